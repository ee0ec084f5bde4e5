"""The three-node cluster (KAFKA_NODES=3 deploy/kafka.sh start): the broker's topics with three
replicas and two in sync, and one worker that keeps deciding, exactly once, while one Kafka
node is killed with SIGKILL mid-stream; the audit log still verifies.

Runs on a cluster of its own beside the session's single node, or on the session's cluster
when the suite runs on one (BROKER_TEST_KAFKA_NODES=3). The multi-worker drill is another's.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from broker.adapters.kafka.clients import Connection, new_admin
from broker.adapters.kafka.local import free_ports
from broker.adapters.policy_files import load_directory, load_policy
from broker.adapters.settings import Settings
from broker.core.deployment.acl import Principals
from broker.core.deployment.topics import THREE_NODES, topic_plan
from broker.services.local import WorkerProcess, create_topics
from broker.testing.cluster import Cluster, leader
from broker.testing.processes import DrillEvent, fault_drill, fresh_settings
from tests.integration.conftest import KAFKA_SH, assert_exactly_once

pytestmark = [pytest.mark.integration, pytest.mark.cluster]


@pytest.fixture(scope="module")
def cluster(kafka_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Three nodes: the session's if it is a cluster, else one of this module's own (the
    session's organisations and certificates)."""
    if kafka_cluster.nodes == 3:
        yield kafka_cluster
        return
    base = tmp_path_factory.mktemp("cluster")
    own = Cluster(
        base / "data",
        free_ports(6),
        kafka_cluster.policy_dir,
        credentials_dir=kafka_cluster.credentials,
        script=KAFKA_SH,
    )
    own.start()
    try:
        yield own
    finally:
        own.stop()


async def _layout(s: Settings, topics: list[str]) -> dict[str, tuple[list[list[int]], str]]:
    """Each topic's replicas per partition and its min.insync.replicas, as the cluster says."""
    admin = new_admin(Connection.of(s, Principals().admin))
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
        configs = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, t) for t in topics]
        )
    finally:
        await admin.close()
    min_isr: dict[str, str] = {}
    for response in configs:
        for _code, _msg, _type, name, entries in response.resources:
            min_isr[name] = next(e[1] for e in entries if e[0] == "min.insync.replicas")
    return {
        t["topic"]: ([sorted(p["replicas"]) for p in t["partitions"]], min_isr[t["topic"]])
        for t in described
    }


def test_a_worker_keeps_deciding_while_a_broker_is_killed(cluster: Cluster, tmp_path: Path) -> None:
    """The plan's topics get 3 replicas and min.insync.replicas 2; 240 notices stream in and
    the node leading the audit topic (every transaction writes there) is killed with SIGKILL
    a third of the way: every notice still gets exactly one decision per recipient, every
    delivery is on its topic once, and the audit log verifies, all with that node down."""
    base = dataclasses.replace(Settings.from_env(), state_dir=tmp_path / "state")
    settings = fresh_settings(cluster.settings(base), tag="cluster")
    assert settings.replication == THREE_NODES
    create_topics(settings)
    plan = topic_plan(
        settings.topics, load_directory(load_policy(settings.policy_dir)), settings.replication
    )
    layout = asyncio.run(_layout(settings, [t.name for t in plan]))
    assert set(layout) == {t.name for t in plan}
    for name, (replicas, min_isr) in layout.items():
        assert all(r == [1, 2, 3] for r in replicas), name
        assert min_isr == "2", name

    victim = asyncio.run(leader(settings, settings.topics.audit))
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    try:
        report = asyncio.run(
            fault_drill(
                settings,
                worker,
                notices=240,
                rate=30,
                kills=0,
                events=[
                    DrillEvent(0.33, f"kill -9 Kafka node {victim}", lambda: cluster.kill(victim))
                ],
                settle_timeout=120,
                say=lambda _m: None,
            )
        )
        assert cluster.pid(victim) is None  # still down: all of the above ran on two nodes
    finally:
        worker.stop()
        cluster.restart(victim)
    assert report.events == 1
    assert_exactly_once(report, 240, worker.log())
    assert cluster.status()
