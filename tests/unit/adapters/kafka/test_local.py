"""The local Kafka's script ships in the package and is told where its jars and data go."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from broker.adapters.kafka.local import SCRIPT, LocalKafka, free_ports
from broker.adapters.kafka.tls.contexts import Profile
from tests.conftest import POLICIES, ROOT


def test_the_script_and_its_config_sit_beside_the_module() -> None:
    """What kafka.sh reads from its own folder is there (and so in the wheel)."""
    for name in ("pom.xml", "server.properties", "secure.properties", "log4j2.properties"):
        assert (SCRIPT.parent / name).is_file(), name
    assert (SCRIPT.parent / "Ready.java").is_file()


def test_the_script_refuses_to_guess_where_jars_and_data_go(tmp_path: Path) -> None:
    """Without KAFKA_LIB_DIR and KAFKA_DATA_DIR it stops, naming both, and writes nothing
    beside itself (an installed package is no place for jars or data)."""
    before = sorted(p.name for p in SCRIPT.parent.iterdir())
    done = subprocess.run(
        ["bash", str(SCRIPT), "status"],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "KAFKA_LIB_DIR" in done.stderr
    assert "KAFKA_DATA_DIR" in done.stderr
    assert sorted(p.name for p in SCRIPT.parent.iterdir()) == before


def test_the_checkout_wrapper_runs_the_packaged_script() -> None:
    """deploy/kafka.sh execs the shipped script (its help is the script's)."""
    done = subprocess.run(
        ["bash", str(ROOT / "deploy" / "kafka.sh"), "help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0
    assert "KAFKA_LIB_DIR" in done.stdout


def test_a_local_kafka_spells_out_its_places(tmp_path: Path) -> None:
    """The script's environment names the jars, data, credentials, port, profile and the
    Python that makes the certificates; clients get the same credentials dir."""
    kafka = LocalKafka(tmp_path / "lib", tmp_path / "data", 19092, POLICIES, Profile.secure)
    expected = {
        "KAFKA_LIB_DIR": str(tmp_path / "lib"),
        "KAFKA_DATA_DIR": str(tmp_path / "data"),
        "KAFKA_CREDENTIALS_DIR": str(tmp_path / "data" / "credentials"),
        "KAFKA_PORT": "19092",
        "KAFKA_PROFILE": "secure",
        "KAFKA_PYTHON": sys.executable,
        "BROKER_POLICY_DIR": str(POLICIES),
    }
    env = kafka.env()
    assert {k: env.get(k) for k in expected} == expected
    assert kafka.bootstrap == "127.0.0.1:19092"
    assert kafka.security().credentials_dir == tmp_path / "data" / "credentials"
    assert kafka.security().profile is Profile.secure


def test_free_ports_are_consecutive_and_free() -> None:
    """Two by default (client and controller); six for a three-node cluster."""
    for count in (2, 6):
        port = free_ports(count)
        assert port > 0
        assert port + count <= 65000
        for p in range(port, port + count):
            with socket.socket() as s:
                s.bind(("127.0.0.1", p))


def _script(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """kafka.sh with only ``env`` (and jars and data in tmp_path): commands that start nothing."""
    base = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "KAFKA_LIB_DIR": str(tmp_path / "lib"),
        "KAFKA_DATA_DIR": str(tmp_path / "data"),
    }
    return subprocess.run(
        ["bash", str(SCRIPT), *args], env=base | env, capture_output=True, text=True, check=False
    )


def test_the_cluster_bootstrap_is_every_nodes_client_port(tmp_path: Path) -> None:
    """Node N listens on KAFKA_PORT + 2(N-1); one node on KAFKA_PORT alone."""
    done = _script(tmp_path, "bootstrap", KAFKA_NODES="3", KAFKA_PORT="19100")
    assert done.stdout.split() == ["127.0.0.1:19100,127.0.0.1:19102,127.0.0.1:19104"]
    assert _script(tmp_path, "bootstrap", KAFKA_PORT="19100").stdout.split() == ["127.0.0.1:19100"]


def test_a_data_dir_that_holds_a_cluster_says_so(tmp_path: Path) -> None:
    """cluster.env gives later commands the node count and port; asking for another count is
    refused, naming both."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "cluster.env").write_text("nodes=3\nport=19200\n")
    done = _script(tmp_path, "bootstrap")
    assert done.stdout.split() == ["127.0.0.1:19200,127.0.0.1:19202,127.0.0.1:19204"]
    refused = _script(tmp_path, "status", KAFKA_NODES="1")
    assert refused.returncode == 1
    assert "holds a 3-node cluster, not KAFKA_NODES=1" in refused.stderr


def test_what_a_cluster_cannot_be_is_refused(tmp_path: Path) -> None:
    """Only 1 or 3 nodes; the controller port override is for one node; `node` needs a
    cluster and a node number within it."""
    two = _script(tmp_path, "status", KAFKA_NODES="2")
    assert (two.returncode, "KAFKA_NODES must be 1 or 3" in two.stderr) == (1, True)
    override = _script(tmp_path, "status", KAFKA_NODES="3", KAFKA_CONTROLLER_PORT="9999")
    assert "KAFKA_CONTROLLER_PORT is for one node" in override.stderr
    single = _script(tmp_path, "node", "1", "kill")
    assert (single.returncode, "holds no cluster" in single.stderr) == (1, True)
    outside = _script(tmp_path, "node", "4", "kill", KAFKA_NODES="3")
    assert "N from 1 to 3" in outside.stderr
    for done in (two, override, single, outside):
        assert "Traceback" not in done.stderr


def test_the_cluster_commands_ship_beside_the_script() -> None:
    for name in ("cluster.sh", "cluster.properties"):
        assert (SCRIPT.parent / name).is_file(), name
