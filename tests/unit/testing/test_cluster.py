"""The Cluster helper spells out kafka.sh's places and ports and what clients need."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from broker.adapters.kafka.tls.contexts import Profile
from broker.adapters.settings import Settings
from broker.core.deployment.topics import SINGLE_NODE, THREE_NODES
from broker.testing.cluster import Cluster, ClusterError
from tests.conftest import POLICIES


def test_three_nodes_have_three_addresses_and_replicate_3_2(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path / "data", 19300, POLICIES)
    assert cluster.bootstrap == "127.0.0.1:19300,127.0.0.1:19302,127.0.0.1:19304"
    assert cluster.replication == THREE_NODES
    env = cluster.env()
    assert {k: env[k] for k in ("KAFKA_NODES", "KAFKA_PORT", "KAFKA_PROFILE")} == {
        "KAFKA_NODES": "3",
        "KAFKA_PORT": "19300",
        "KAFKA_PROFILE": "secure",
    }
    assert env["KAFKA_CREDENTIALS_DIR"] == str(tmp_path / "data" / "credentials")
    assert env["KAFKA_PYTHON"] == sys.executable
    clients = cluster.client_env()
    assert clients["BROKER_BOOTSTRAP"] == cluster.bootstrap
    assert clients["BROKER_KAFKA_REPLICATION_FACTOR"] == "3"
    assert clients["BROKER_KAFKA_MIN_INSYNC_REPLICAS"] == "2"


def test_settings_point_at_the_cluster(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path / "data", 19300, POLICIES, credentials_dir=tmp_path / "c")
    s = cluster.settings(Settings(state_dir=tmp_path))
    assert (s.bootstrap, s.replication) == (cluster.bootstrap, THREE_NODES)
    assert (s.kafka.profile, s.kafka.credentials_dir) == (Profile.secure, tmp_path / "c")


def test_one_node_is_the_single_broker(tmp_path: Path) -> None:
    one = Cluster(tmp_path / "data", 19300, POLICIES, nodes=1)
    assert (one.bootstrap, one.replication) == ("127.0.0.1:19300", SINGLE_NODE)
    with pytest.raises(ValueError, match="one node"):
        one.kill(1)
    with pytest.raises(ValueError, match="nodes: 1 or 3"):
        Cluster(tmp_path, 19300, POLICIES, nodes=2)
    with pytest.raises(ValueError, match="from 1 to 3"):
        Cluster(tmp_path, 19300, POLICIES).node_port(4)


def test_pids_come_from_each_nodes_pid_file(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, 19300, POLICIES)
    (tmp_path / "node-2").mkdir()
    (tmp_path / "node-2" / "kafka.pid").write_text("4242\n")
    assert (cluster.pid(1), cluster.pid(2)) == (None, 4242)


def test_a_failing_kafka_sh_is_an_error_with_its_output(tmp_path: Path) -> None:
    """A node of no cluster: kafka.sh's own message, not a traceback of its own."""
    cluster = Cluster(tmp_path / "data", 19300, POLICIES, nodes=1, lib_dir=tmp_path / "lib")
    with pytest.raises(ClusterError, match="holds no cluster"):
        cluster.run("node", "1", "kill")
