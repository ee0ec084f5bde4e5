"""Integration fixtures: the real local Kafka and a real worker process on topics of their own."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.kafka import ensure_topics
from broker.policy import load_policy
from broker.settings import Settings
from broker.topics import topic_specs
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
    log_path: Path
    process: subprocess.Popen[bytes]

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@pytest.fixture(scope="session")
def stack(kafka: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A worker (`broker worker`, a separate process) on a fresh topic prefix."""
    prefix = f"it-{uuid.uuid4().hex[:8]}."
    state = tmp_path_factory.mktemp("state")
    settings = dataclasses.replace(
        Settings.from_env(),
        bootstrap=kafka,
        topic_prefix=prefix,
        app_id=f"{prefix}broker",
        state_dir=state,
    )
    policy = load_policy(settings.policy_dir)
    specs = topic_specs(settings.topics, [r.topic for r in policy.recipients.values()])
    asyncio.run(ensure_topics(kafka, specs))
    env = {
        **os.environ,
        "BROKER_TOPIC_PREFIX": prefix,
        "BROKER_APP_ID": settings.app_id,
        "BROKER_BOOTSTRAP": kafka,
        "BROKER_STATE_DIR": str(state),
    }
    log_path = state / "worker.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "broker", "worker"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    s = Stack(settings, log_path, process)
    deadline = time.monotonic() + 90
    while "worker.ready" not in s.log():
        assert process.poll() is None, f"worker exited:\n{s.log()[-3000:]}"
        assert time.monotonic() < deadline, f"worker not ready:\n{s.log()[-3000:]}"
        time.sleep(0.2)
    yield s
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
