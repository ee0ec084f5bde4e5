"""Settings: where the policies and the state are, without pointing into the checkout or the
installed package; the only reader of the environment."""

from __future__ import annotations

import ast
import dataclasses
import os
import sysconfig
from pathlib import Path

import pytest

from broker.adapters.kafka.tls.contexts import Profile
from broker.adapters.settings import Settings, environment_set
from broker.core.deployment.topics import SINGLE_NODE, THREE_NODES, Replication
from broker.core.errors import ConfigError
from tests.conftest import POLICIES, ROOT

PACKAGE = ROOT / "broker"


@pytest.fixture
def bare_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No BROKER_* or KAFKA_* setting, the user's home in tmp_path, and an empty working
    directory: what a fresh install sees."""
    for name in list(os.environ):
        if name.startswith(("BROKER_", "KAFKA_", "XDG_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def test_the_policy_dir_is_the_variable_when_set(
    bare_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BROKER_POLICY_DIR wins over a ./policies in the working directory."""
    (bare_env / "policies").mkdir()
    monkeypatch.setenv("BROKER_POLICY_DIR", str(POLICIES))
    assert Settings.from_env().policy_dir == POLICIES


def test_the_policy_dir_is_found_in_the_working_directory(bare_env: Path) -> None:
    """Without BROKER_POLICY_DIR, ./policies is used, as an absolute path (children inherit it
    whatever their working directory)."""
    (bare_env / "policies").mkdir()
    assert Settings.from_env().policy_dir == bare_env / "policies"


def test_without_a_policy_dir_using_one_names_the_variable(bare_env: Path) -> None:
    """Neither: settings still load (commands that read no policy run), but asking for the
    policy dir is a ConfigError that says what to set."""
    settings = Settings.from_env()
    assert settings.policies is None
    with pytest.raises(ConfigError, match="BROKER_POLICY_DIR"):
        _ = settings.policy_dir


def test_the_state_dir_defaults_to_the_users_data_dir(
    bare_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """~/.local/share/oslo-share-broker, or under XDG_DATA_HOME; never the package's folder,
    and the Kafka credentials beside the rest of the state."""
    home = tmp_path / "home"
    assert Settings.from_env().state_dir == home / ".local" / "share" / "oslo-share-broker"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    settings = Settings.from_env()
    assert settings.state_dir == tmp_path / "data" / "oslo-share-broker"
    assert settings.kafka.credentials_dir == settings.state_dir / "kafka-credentials"
    site = Path(sysconfig.get_paths()["purelib"])
    assert not settings.state_dir.is_relative_to(site)
    assert not settings.state_dir.is_relative_to(PACKAGE)


def test_the_state_dir_is_the_variable_when_set(
    bare_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BROKER_STATE_DIR", str(tmp_path / "state"))
    assert Settings.from_env().state_dir == tmp_path / "state"


def test_a_child_process_environment_gives_back_the_same_settings(
    bare_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """process_env() is from_env() inverted: a `broker …` child started with it, in any
    working directory, has the parent's settings, replaced ones included."""
    (bare_env / "policies").mkdir()
    base = Settings.from_env()
    security = dataclasses.replace(base.kafka, profile=Profile.secure, principal="auditor")
    settings = dataclasses.replace(
        base,
        state_dir=tmp_path / "state",
        topic_prefix="p.",
        app_id="p.app",
        bootstrap="127.0.0.1:1,127.0.0.1:3",
        kafka=security,
        replication=THREE_NODES,
    )
    monkeypatch.chdir(tmp_path)
    for name, value in settings.process_env().items():
        monkeypatch.setenv(name, value)
    assert Settings.from_env() == settings


def test_replication_is_one_copy_unless_set(bare_env: Path) -> None:
    """A single node's 1/1 without settings."""
    assert Settings.from_env().replication == SINGLE_NODE


@pytest.mark.parametrize(
    ("factor", "min_insync", "expected"),
    [("3", None, THREE_NODES), ("3", "3", Replication(3, 3)), ("2", None, Replication(2, 1))],
)
def test_replication_comes_from_the_environment(
    bare_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    factor: str,
    min_insync: str | None,
    expected: Replication,
) -> None:
    """A factor alone needs all copies but one in sync (3 -> 2, the cluster's)."""
    monkeypatch.setenv("BROKER_KAFKA_REPLICATION_FACTOR", factor)
    if min_insync is not None:
        monkeypatch.setenv("BROKER_KAFKA_MIN_INSYNC_REPLICAS", min_insync)
    assert Settings.from_env().replication == expected


@pytest.mark.parametrize(
    ("factor", "min_insync", "reason"),
    [
        ("three", None, "BROKER_KAFKA_REPLICATION_FACTOR: 'three' is not a whole number"),
        ("0", None, "replication factor: must be at least 1, got 0"),
        ("3", "4", r"min\.insync\.replicas: must be from 1 to the replication factor \(3\)"),
        ("3", "0", "got 0"),
        ("1", "-1", "BROKER_KAFKA_MIN_INSYNC_REPLICAS: '-1' is not a whole number"),
    ],
)
def test_replication_that_cannot_work_is_refused_naming_the_setting(
    bare_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    factor: str,
    min_insync: str | None,
    reason: str,
) -> None:
    monkeypatch.setenv("BROKER_KAFKA_REPLICATION_FACTOR", factor)
    if min_insync is not None:
        monkeypatch.setenv("BROKER_KAFKA_MIN_INSYNC_REPLICAS", min_insync)
    with pytest.raises(ConfigError, match=reason) as raised:
        Settings.from_env()
    assert "BROKER_KAFKA_" in str(raised.value)


def test_the_auditor_files_come_from_the_environment(
    bare_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """BROKER_AUDIT_KEY_FILE, BROKER_AUDIT_WITNESS, BROKER_AUDIT_STORE and KAFKA_LIB_DIR are
    read here, like every other setting; unset, they are None (the callers' defaults)."""
    unset = Settings.from_env()
    assert (unset.audit_key_file, unset.audit_witness, unset.audit_store) == (None, None, None)
    assert unset.kafka_lib_dir is None
    monkeypatch.setenv("BROKER_AUDIT_KEY_FILE", str(tmp_path / "k.pem"))
    monkeypatch.setenv("BROKER_AUDIT_WITNESS", str(tmp_path / "w.jsonl"))
    monkeypatch.setenv("BROKER_AUDIT_STORE", "postgresql://localhost/audit")
    monkeypatch.setenv("KAFKA_LIB_DIR", str(tmp_path / "lib"))
    s = Settings.from_env()
    assert (s.audit_key_file, s.audit_witness, s.audit_store, s.kafka_lib_dir) == (
        tmp_path / "k.pem",
        tmp_path / "w.jsonl",
        "postgresql://localhost/audit",
        tmp_path / "lib",
    )


ENVIRONMENT = {"environ", "getenv", "putenv"}


def _environment_readers(path: Path) -> list[int]:
    """Lines of ``path`` that read the environment: os.environ, os.getenv, os.putenv."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and node.attr in ENVIRONMENT:
            lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            lines += [node.lineno] if {a.name for a in node.names} & ENVIRONMENT else []
    return sorted(lines)


@pytest.mark.parametrize(
    "path",
    sorted(p for p in PACKAGE.rglob("*.py") if p.name != "settings.py"),
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_only_settings_reads_the_environment(path: Path) -> None:
    """Every other module gets its settings from broker.adapters.settings."""
    assert _environment_readers(path) == []


def test_the_environment_check_sees_every_spelling(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "import os\nfrom os import getenv\nx = os.environ['A']\ny = os.getenv('B')\n"
        "def f():\n    return os.environ.get('C')\n"
    )
    assert _environment_readers(module) == [2, 3, 4, 6]


def test_environment_set_restores_what_was_there_and_removes_what_was_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Inside the block the values hold; afterwards a variable that was set has its old value
    again and one that was not set is gone."""
    monkeypatch.setenv("BROKER_T_SET", "before")
    monkeypatch.delenv("BROKER_T_UNSET", raising=False)
    with environment_set({"BROKER_T_SET": "inside", "BROKER_T_UNSET": "inside"}):
        assert os.environ["BROKER_T_SET"] == "inside"
        assert os.environ["BROKER_T_UNSET"] == "inside"
    assert os.environ["BROKER_T_SET"] == "before"
    assert "BROKER_T_UNSET" not in os.environ
