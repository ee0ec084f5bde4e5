"""The local Kafka's script ships in the package and is told where its jars and data go."""

from __future__ import annotations

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


def test_a_free_ports_is_two_free_ports() -> None:
    port = free_ports()
    assert 0 < port < 65000
