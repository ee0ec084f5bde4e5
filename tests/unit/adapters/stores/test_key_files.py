"""Key material that cannot be read is a ConfigError naming the file and the reason, never a
traceback; the subject-reference key is kept like a private key, in BROKER_KEY_DIR."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from broker.adapters.settings import Settings
from broker.adapters.stores.datakeys import SqliteDataKeyStore
from broker.core.crypto import keys
from broker.core.errors import ConfigError
from tests.conftest import POLICIES, ROOT, file_mode

# bytes that are neither UTF-8 nor SQLite (a fixed pattern: the test is the same every run)
GARBAGE = bytes(range(128, 256)) * 64


def _broker(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "broker", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "250", **env},
        check=False,
        timeout=120,
    )
    result.stderr = " ".join(result.stderr.split())  # as one line: the console wraps it
    return result


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BROKER_KEY_DIR", "BROKER_KEY_REGISTRY", "BROKER_SUBJECT_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)


_mode = file_mode


# --- the registry ----------------------------------------------------------------------------


def test_a_registry_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    """Loading names the file and the reason; `broker keys list` prints it, no traceback."""
    registry = tmp_path / "keys" / "registry.yaml"
    registry.parent.mkdir()
    registry.write_bytes(b"version: 1\nkeys: []\n# " + GARBAGE)
    with pytest.raises(ConfigError, match=r"registry\.yaml: not UTF-8 text \(invalid byte"):
        keys.load_registry(registry)
    result = _broker("keys", "list", env={"BROKER_STATE_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert f"key registry {registry}: not UTF-8 text" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_registry_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    """A directory where the registry should be: the file and the OS's reason."""
    registry = tmp_path / "registry.yaml"
    registry.mkdir()
    with pytest.raises(ConfigError) as exc:
        keys.load_registry(registry)
    assert str(exc.value) == f"key registry {registry}: cannot be read (Is a directory)"


# --- the data-key store ----------------------------------------------------------------------


def test_a_corrupt_data_key_store_is_named_and_left_alone(tmp_path: Path) -> None:
    """A file that is not SQLite: ConfigError naming it; its bytes are not overwritten."""
    path = tmp_path / "keys" / "data-keys.sqlite3"
    path.parent.mkdir()
    path.write_bytes(GARBAGE)
    with pytest.raises(ConfigError) as exc:
        SqliteDataKeyStore(path)
    assert str(exc.value).startswith(
        f"data-key store {path}: cannot be used as an SQLite database (file is not a database)"
    )
    assert path.read_bytes() == GARBAGE


def test_purge_and_worker_print_a_corrupt_data_key_store(tmp_path: Path, clean_env: None) -> None:
    """`broker retention purge` and `broker worker` stop with the file named, no traceback."""
    from broker.adapters.stores.devkeys import ensure_dev_keys  # noqa: PLC0415

    # the worker gets as far as the store
    ensure_dev_keys(Settings(state_dir=tmp_path, policies=POLICIES))
    path = tmp_path / "keys" / "data-keys.sqlite3"
    path.write_bytes(GARBAGE)
    env = {"BROKER_STATE_DIR": str(tmp_path), "BROKER_BOOTSTRAP": "127.0.0.1:1"}
    for command in (["retention", "purge"], ["worker"]):
        result = _broker(*command, env=env)
        assert result.returncode == 2, command
        assert f"data-key store {path}: cannot be used as an SQLite database" in result.stderr
        assert "Traceback" not in result.stderr
    assert path.read_bytes() == GARBAGE


# --- the subject-reference key ---------------------------------------------------------------


def test_subject_key_is_created_0600_in_the_key_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_env: None, wide_umask: None
) -> None:
    """With BROKER_KEY_DIR set, the key is made there (0600, folder 0700), not under the
    state dir, and read from there again."""
    key_dir = tmp_path / "elsewhere" / "keys"
    monkeypatch.setenv("BROKER_KEY_DIR", str(key_dir))
    settings = Settings(state_dir=tmp_path / "state")
    key = settings.subject_key()
    path = key_dir / "subject-ref.key"
    assert settings.subject_key_path() == path
    assert path.read_bytes() == key
    assert len(key) == 32
    assert _mode(path) == 0o600
    assert _mode(key_dir) == 0o700
    assert not (tmp_path / "state" / "keys").exists()
    assert settings.subject_key() == key  # the same key next time


def test_subject_key_defaults_to_the_state_key_dir(tmp_path: Path, clean_env: None) -> None:
    """Without BROKER_KEY_DIR the key dir is <state>/keys, as before: nothing to migrate."""
    settings = Settings(state_dir=tmp_path)
    key = settings.subject_key()
    assert (tmp_path / "keys" / "subject-ref.key").read_bytes() == key


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_subject_key_readable_by_others_is_refused(
    tmp_path: Path, clean_env: None, mode: int
) -> None:
    """Group- or other-readable: refused like a private key, naming the file and the mode."""
    settings = Settings(state_dir=tmp_path)
    settings.subject_key()
    path = tmp_path / "keys" / "subject-ref.key"
    path.chmod(mode)
    with pytest.raises(ConfigError) as exc:
        settings.subject_key()
    assert str(exc.value) == (
        f"subject key file {path} is readable by others (mode {mode:04o}); it must be 0600"
    )


def test_provisioned_subject_key_follows_the_same_rules(tmp_path: Path, clean_env: None) -> None:
    """BROKER_SUBJECT_KEY_FILE: must exist (never created), must not be a symlink or 0644."""
    provisioned = tmp_path / "provisioned.key"
    settings = Settings(state_dir=tmp_path, subject_key_file=provisioned)
    with pytest.raises(ConfigError, match=r"subject key file .*provisioned\.key does not exist"):
        settings.subject_key()
    assert not provisioned.exists()
    real = tmp_path / "real.key"
    real.write_bytes(b"k" * 32)
    real.chmod(0o600)
    provisioned.symlink_to(real)
    with pytest.raises(ConfigError, match=r"provisioned\.key is not a regular file"):
        settings.subject_key()
    provisioned.unlink()
    real.rename(provisioned)
    assert settings.subject_key() == b"k" * 32
    provisioned.chmod(0o644)
    with pytest.raises(ConfigError, match=r"readable by others \(mode 0644\)"):
        settings.subject_key()


def test_subject_key_at_the_old_place_is_not_replaced_silently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_env: None
) -> None:
    """A key left in <state>/keys when BROKER_KEY_DIR points elsewhere: refused with the move
    to make (a new key would change every subject reference); after the move, the old key."""
    state = tmp_path / "state"
    old = Settings(state_dir=state).subject_key()  # made before BROKER_KEY_DIR was honoured
    key_dir = tmp_path / "keys"
    monkeypatch.setenv("BROKER_KEY_DIR", str(key_dir))
    settings = Settings(state_dir=state)
    with pytest.raises(ConfigError) as exc:
        settings.subject_key()
    old_path, new_path = state / "keys" / "subject-ref.key", key_dir / "subject-ref.key"
    assert f"subject key file {new_path} does not exist, but {old_path} does" in str(exc.value)
    assert f"mv {old_path} {new_path}" in str(exc.value)
    assert not new_path.exists()
    key_dir.mkdir(mode=0o700)
    old_path.rename(new_path)
    assert settings.subject_key() == old
