"""Integration fixtures: the real local Kafka and a real worker process on topics of their own."""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from broker import e2e, keys
from broker.settings import Settings
from broker.testing import WorkerProcess, create_topics, fresh_settings, settings_env
from tests.conftest import ROOT

KAFKA_SH = ROOT / "deploy" / "kafka.sh"


def _kafka(command: str) -> int:
    return subprocess.run(["bash", str(KAFKA_SH), command], check=False).returncode


@pytest.fixture(scope="session")
def kafka() -> Iterator[str]:
    """The local Apache Kafka broker: started if not running, and then stopped again."""
    started = _kafka("status") != 0
    if started:
        assert _kafka("start") == 0, "Kafka did not start; see deploy/kafka/var/kafka.log"
    yield Settings.from_env().bootstrap
    if started:
        _kafka("stop")


@dataclasses.dataclass
class Stack:
    settings: Settings
    worker: WorkerProcess
    sealer: subprocess.Popen[bytes]

    def log(self) -> str:
        return self.worker.log()

    def opener(self, recipient: str) -> e2e.DeliveryOpener:
        """The recipient's side: verify the broker's signature, then decrypt."""
        paths = self.settings.key_paths()
        registry = keys.load_registry(paths.registry)
        return e2e.DeliveryOpener(registry, recipient,
                                  keys.decryption_keys(paths, registry, recipient))


@pytest.fixture(scope="session")
def stack(kafka: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A worker (`broker worker`) and an audit sealer (`broker audit seal`), each a separate
    process, on a fresh topic prefix with keys of their own."""
    state = tmp_path_factory.mktemp("state")
    settings = fresh_settings(
        dataclasses.replace(Settings.from_env(), bootstrap=kafka, state_dir=state), tag="it")
    create_topics(settings)
    worker = WorkerProcess(settings, state / "worker.log")
    worker.start()
    with (state / "sealer.log").open("wb") as log:
        sealer = subprocess.Popen([sys.executable, "-m", "broker", "audit", "seal",
                                   "--interval", "1"], env=settings_env(settings), stdout=log,
                                  stderr=subprocess.STDOUT, cwd=ROOT)
    yield Stack(settings, worker, sealer)
    sealer.send_signal(signal.SIGTERM)
    try:
        sealer.wait(timeout=30)
    except subprocess.TimeoutExpired:
        sealer.kill()
    worker.stop()
