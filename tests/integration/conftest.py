"""Integration fixtures: the real local Kafka and a real worker process on topics of their own."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.adapters.kafka.local import free_ports
from broker.adapters.policy_files import load_policy
from broker.adapters.settings import Settings
from broker.adapters.stores import keyfiles
from broker.core.crypto import sealing
from broker.core.policy import PolicySet
from broker.services.local import WorkerProcess, create_topics
from broker.testing.cluster import Cluster
from broker.testing.directories import EXAMPLES_REACH, policy_dir_with
from broker.testing.processes import DrillReport, fresh_settings
from tests.conftest import POLICIES, ROOT

KAFKA_SH = ROOT / "deploy" / "kafka.sh"


def kafka_nodes() -> int:
    """BROKER_TEST_KAFKA_NODES: 1 (default) or 3, the three-node cluster for the whole suite."""
    value = os.environ.get("BROKER_TEST_KAFKA_NODES", "1")
    if value not in ("1", "3"):
        raise pytest.UsageError(f"BROKER_TEST_KAFKA_NODES: 1 or 3, got '{value}'")
    return int(value)


def secure_cluster(base: Path, policies: Path, nodes: int) -> Cluster:
    """A secure-profile Kafka under ``base`` (data, credentials) on free ports, for the
    organisations of ``policies``: not started."""
    return Cluster(
        base / "data",
        free_ports(2 * nodes),
        policies,
        nodes=nodes,
        credentials_dir=base / "credentials",
        script=KAFKA_SH,
    )


def assert_exactly_once(report: DrillReport, notices: int, log: str = "") -> None:
    """A fault drill's report: every notice on its topic, one decision per recipient, every
    delivery once and audited, the audit log verified (``log``: the worker's, on failure)."""
    assert report.notices_on_topic == notices
    assert report.missing_decisions == 0
    assert report.duplicate_decisions == 0
    assert report.duplicate_deliveries == 0
    assert report.deliveries == report.audited_deliveries > 0
    assert report.audit_log_verifies
    assert report.ok, log[-3000:]


@pytest.fixture(scope="session")
def kafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The test session's own Apache Kafka in the secure profile: mutual TLS on every
    listener, no plaintext, ACLs enforced (deploy/kafka.sh, KAFKA_PROFILE=secure), on free
    ports beside any Kafka a developer runs. One node, or with BROKER_TEST_KAFKA_NODES=3 the
    three-node cluster (three voters, RF 3, min ISR 2; bootstrap: all three). Every `broker`
    process and client in the session connects through it as its own principal
    (BROKER_KAFKA_PROFILE=secure) and creates topics replicated as it needs
    (BROKER_KAFKA_REPLICATION_FACTOR)."""
    base = tmp_path_factory.mktemp("kafka")
    nodes = kafka_nodes()
    # The organisations the examples reach, not the shipped 59: every stack creates each one's
    # topics and ACLs under its own prefix, and a broker holding thousands of ACLs applies new
    # ones slowly (the directory benchmark times 200 organisations on a broker of their own).
    policies = policy_dir_with(POLICIES, base / "policies", EXAMPLES_REACH)
    cluster = secure_cluster(base, policies, nodes)
    cluster.start()
    try:
        with cluster.in_environment():
            yield cluster
    finally:
        cluster.run("stop", check=False)


@pytest.fixture(scope="session")
def kafka(kafka_cluster: Cluster) -> str:
    """The session's Kafka (see kafka_cluster): its bootstrap servers."""
    return kafka_cluster.bootstrap


@pytest.fixture(scope="session")
def policy(kafka: str) -> PolicySet:
    """The policy the session's brokers run: the shipped one, with the directory of the
    organisations the examples reach (BROKER_POLICY_DIR, which `kafka` sets)."""
    return load_policy(os.environ["BROKER_POLICY_DIR"])


@dataclasses.dataclass
class Stack:
    settings: Settings
    worker: WorkerProcess
    sealer: subprocess.Popen[bytes]

    def log(self) -> str:
        return self.worker.log()

    def opener(self, organisation: str) -> sealing.DeliveryOpener:
        """The organisation's side: verify the broker's signature, then decrypt."""
        paths = self.settings.key_paths()
        registry = keyfiles.load_registry(paths.registry)
        return sealing.DeliveryOpener(
            registry, organisation, keyfiles.decryption_keys(paths, registry, organisation)
        )


@contextlib.contextmanager
def running_stack(
    kafka: str, tmp_path_factory: pytest.TempPathFactory, tag: str = "it"
) -> Iterator[Stack]:
    """A worker (`broker worker`) and an audit sealer (`broker audit seal`), each a separate
    process, on a fresh topic prefix with keys of their own."""
    state = tmp_path_factory.mktemp("state")
    settings = fresh_settings(
        dataclasses.replace(Settings.from_env(), bootstrap=kafka, state_dir=state), tag=tag
    )
    create_topics(settings)
    worker = WorkerProcess(settings, state / "worker.log")
    worker.start()
    with (state / "sealer.log").open("wb") as log:
        sealer = subprocess.Popen(
            [sys.executable, "-m", "broker", "audit", "seal", "--interval", "1"],
            env=settings.process_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    try:
        yield Stack(settings, worker, sealer)
    finally:
        sealer.send_signal(signal.SIGTERM)
        try:
            sealer.wait(timeout=30)
        except subprocess.TimeoutExpired:
            sealer.kill()
        worker.stop()


@pytest.fixture(scope="session")
def stack(kafka: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The session's stack (see running_stack), shared by the tests that use it."""
    with running_stack(kafka, tmp_path_factory) as s:
        yield s
