"""Key files: 0600 private key files that are never replaced, the registry file under its lock,
the file-level key operations and `broker keys`; key material that cannot be read is a
ConfigError naming the file and the reason, never a traceback; the subject-reference key is
kept like a private key, in BROKER_KEY_DIR."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from broker.adapters.policy_files import load_directory, load_policy
from broker.adapters.settings import Settings
from broker.adapters.stores import keyfiles
from broker.adapters.stores.datakeys import SqliteDataKeyStore
from broker.adapters.stores.keyfiles import KeyPaths
from broker.cli.keys import app
from broker.core.audit import writers
from broker.core.crypto.registry import BROKER_OWNER, KeyKind, KeyStatus, Registry, render_registry
from broker.core.errors import ConfigError
from tests.conftest import POLICIES, ROOT, file_mode, secret_forms

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
        keyfiles.load_registry(registry)
    result = _broker("keys", "list", env={"BROKER_STATE_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert f"key registry {registry}: not UTF-8 text" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_registry_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    """A directory where the registry should be: the file and the OS's reason."""
    registry = tmp_path / "registry.yaml"
    registry.mkdir()
    with pytest.raises(ConfigError) as exc:
        keyfiles.load_registry(registry)
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


# --- private key files and the file-level key operations ------------------------------------

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
POLICE = {"sender": "police", "organisation": "oslo-politidistrikt"}  # a police unit's binding


@pytest.fixture
def paths(tmp_path: Path) -> KeyPaths:
    return KeyPaths.under(tmp_path / "keys")


def test_private_key_file_is_0600_in_0700_directories(paths: KeyPaths, wide_umask: None) -> None:
    """Even under umask 000, the private key is 0600 and every directory above it 0700."""
    entry = keyfiles.generate(paths, KeyKind.publisher, "oslo-pd-ost", NOW, **POLICE)
    path = paths.private_file(KeyKind.publisher, "oslo-pd-ost", entry.key_id)
    assert _mode(path) == 0o600
    for directory in (path.parent, path.parent.parent, paths.root / "private", paths.root):
        assert _mode(directory) == 0o700, directory


def test_private_key_file_is_never_replaced(paths: KeyPaths) -> None:
    """Creating a key file where one exists fails and leaves the existing file untouched."""
    target = paths.root / "private" / "broker" / "broker" / "x.pem"
    keyfiles.write_private(target, b"first", paths.root)
    with pytest.raises(ConfigError, match="already exists"):
        keyfiles.write_private(target, b"second", paths.root)
    assert target.read_bytes() == b"first"
    assert [p.name for p in target.parent.iterdir()] == ["x.pem"]  # no temporary file left


def test_second_generate_is_refused_and_rotate_keeps_the_old_key(paths: KeyPaths) -> None:
    """One active key per owner; rotation makes a new active key and keeps the old one usable."""
    first = keyfiles.generate(paths, KeyKind.publisher, "oslo-pd-ost", NOW, **POLICE)
    with pytest.raises(ConfigError, match="already has an active key"):
        keyfiles.generate(paths, KeyKind.publisher, "oslo-pd-ost", NOW, **POLICE)
    new, old = keyfiles.rotate(paths, KeyKind.publisher, "oslo-pd-ost", NOW)
    registry = keyfiles.load_registry(paths.registry)
    assert old is not None
    assert old.key_id == first.key_id
    assert registry.active(KeyKind.publisher, "oslo-pd-ost") == new
    assert registry.get(first.key_id).status is KeyStatus.rotated  # type: ignore[union-attr]
    assert (
        keyfiles.signing_key(paths, registry, KeyKind.publisher, "oslo-pd-ost").key_id == new.key_id
    )


def test_retire_with_destroy_deletes_the_private_file(paths: KeyPaths) -> None:
    """Retiring a key marks it retired; --destroy-private removes this host's private file."""
    entry = keyfiles.generate(paths, KeyKind.recipient, "school", NOW)
    keyfiles.retire(paths, entry.key_id, NOW, destroy_private=True)
    assert keyfiles.load_registry(paths.registry).get(entry.key_id).status is KeyStatus.retired  # type: ignore[union-attr]
    assert not paths.private_file(KeyKind.recipient, "school", entry.key_id).exists()


@pytest.mark.parametrize("owner", ["../escape", "a/b", "", ".hidden", "x" * 101])
def test_owner_ids_that_are_not_safe_path_components_are_refused(
    paths: KeyPaths, owner: str
) -> None:
    """An owner id becomes a directory name: traversal and oddities are refused up front."""
    with pytest.raises(ConfigError, match="owner"):
        keyfiles.generate(paths, KeyKind.publisher, owner, NOW, **POLICE)
    assert not (paths.root / "private").exists()


def test_private_key_readable_by_others_is_refused(paths: KeyPaths) -> None:
    """Like ssh, a private key file with group or other permissions is not used."""
    entry = keyfiles.generate(paths, KeyKind.broker, "broker", NOW)
    path = paths.private_file(KeyKind.broker, "broker", entry.key_id)
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="mode 0644"):
        keyfiles.signing_key(
            paths, keyfiles.load_registry(paths.registry), KeyKind.broker, "broker"
        )


def test_private_key_not_matching_the_registry_is_refused(paths: KeyPaths) -> None:
    """A private file swapped for another key does not sign under the registered key id."""
    a = keyfiles.generate(paths, KeyKind.publisher, "unit-a", NOW, **POLICE)
    b = keyfiles.generate(paths, KeyKind.publisher, "unit-b", NOW, **POLICE)
    pa = paths.private_file(KeyKind.publisher, "unit-a", a.key_id)
    pb = paths.private_file(KeyKind.publisher, "unit-b", b.key_id)
    pa.chmod(0o600)
    pa.write_bytes(pb.read_bytes())
    with pytest.raises(ConfigError, match="does not match the registry"):
        keyfiles.signing_key(
            paths, keyfiles.load_registry(paths.registry), KeyKind.publisher, "unit-a"
        )


def test_key_material_never_reaches_reprs_errors_or_logs(
    paths: KeyPaths, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every error path and repr is scanned for every textual form of the private key."""
    caplog.set_level(logging.DEBUG)
    entry = keyfiles.generate(paths, KeyKind.publisher, "unit-a", NOW, **POLICE)
    path = paths.private_file(KeyKind.publisher, "unit-a", entry.key_id)
    forms = secret_forms(path.read_bytes())
    registry = keyfiles.load_registry(paths.registry)
    texts = [repr(keyfiles.signing_key(paths, registry, KeyKind.publisher, "unit-a"))]
    original = path.read_bytes()
    for damage in (
        lambda: path.chmod(0o640),
        lambda: path.write_bytes(original[:-40]),  # truncated PEM
        lambda: path.write_bytes(original.replace(b"PRIVATE KEY", b"PUBLIC KEY")),
    ):
        path.chmod(0o600)
        path.write_bytes(original)
        damage()
        with pytest.raises(ConfigError) as caught:
            keyfiles.signing_key(paths, registry, KeyKind.publisher, "unit-a")
        error = caught.value
        texts += [str(error), repr(error)]
        # the library's exception (and its arguments) is never chained into ours
        assert error.__cause__ is None
        assert error.__context__ is None or error.__suppress_context__
    captured = capsys.readouterr()
    texts += [captured.out, captured.err, caplog.text]
    for text in texts:
        for form in forms:
            assert form not in text


def test_keys_cli_lists_keys_without_private_material(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`broker keys generate/rotate/list` print ids and statuses, never private key forms."""
    monkeypatch.setenv("BROKER_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    outputs = []
    for args in (
        ["generate", "--broker"],
        [
            "generate",
            "--publisher",
            "oslo-pd-ost",
            "--sender",
            "police",
            "--organisation",
            "oslo-politidistrikt",
        ],
        ["generate", "--recipient", "skole-9002"],
        ["rotate", "--recipient", "skole-9002"],
        ["generate", "--recipient", "broker"],  # the broker's inbox: notices are sealed to it
        ["list"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    listing = outputs[-1]
    registry = keyfiles.load_registry(tmp_path / "keys" / "registry.yaml")
    assert len(registry.keys) == 5
    for entry in registry.keys:
        assert entry.key_id in listing
    assert "rotated" in listing
    assert "active" in listing
    for pem in (tmp_path / "keys" / "private").rglob("*.pem"):
        for form in secret_forms(pem.read_bytes()):
            assert all(form not in text for text in outputs)


def test_keys_cli_refuses_an_unknown_recipient_and_two_selectors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An encryption key's owner must be an organisation of the directory; exactly one of the
    owner options is required."""
    monkeypatch.setenv("BROKER_STATE_DIR", str(tmp_path))
    runner = CliRunner()
    unknown = runner.invoke(app, ["generate", "--recipient", "nobody"])
    assert unknown.exit_code == 2
    assert "--recipient: 'nobody' is not an organisation in the directory" in unknown.output
    role = runner.invoke(app, ["generate", "--recipient", "school"])
    assert role.exit_code == 2
    assert "'school' is not an organisation but a role" in role.output
    both = runner.invoke(app, ["generate", "--broker", "--publisher", "x"])
    assert both.exit_code == 2
    assert "exactly one" in both.output
    assert not (tmp_path / "keys" / "private").exists()


@pytest.mark.parametrize(
    ("binding", "message"),
    [
        ({}, "sender: required for a publisher key"),
        ({"sender": "school"}, "organisation: required for a publisher key"),
        ({"organisation": "osloskolen"}, "sender: required for a publisher key"),
        ({"sender": "gossip", "organisation": "x"}, "sender: must be one of"),
        ({"sender": "Police", "organisation": "x"}, "sender: must be one of"),
        ({"sender": "school", "organisation": "../up"}, "organisation: not a valid"),
    ],
)
def test_a_publisher_key_without_a_valid_binding_is_refused(
    paths: KeyPaths, binding: dict[str, str], message: str
) -> None:
    """A publisher key needs a known sender class and an organisation id; nothing is
    written when either is missing or wrong, and the error never repeats the value."""
    with pytest.raises(ConfigError, match=message) as caught:
        keyfiles.generate(paths, KeyKind.publisher, "osloskolen-9003", NOW, **binding)
    for value in binding.values():
        assert f"'{value}'" not in str(caught.value)
    assert not paths.registry.exists()
    assert not (paths.root / "private").exists()


@pytest.mark.parametrize("kind", [KeyKind.recipient, KeyKind.broker])
def test_broker_and_recipient_keys_take_no_binding(paths: KeyPaths, kind: KeyKind) -> None:
    """Only publisher keys carry a sender class or an organisation."""
    owner = "school" if kind is KeyKind.recipient else "broker"
    for binding, field in (
        ({"sender": "school"}, "sender"),
        ({"organisation": "x"}, "organisation"),
    ):
        with pytest.raises(ConfigError, match=f"{field}: only publisher keys carry one"):
            keyfiles.generate(paths, kind, owner, NOW, **binding)
    assert not paths.registry.exists()


def test_dev_keys_bind_each_example_unit_to_the_class_of_its_notices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ensure_dev_keys: units issuing incident or risk notices are police, the one issuing a
    concern report a school, the one issuing feedback child welfare; each bound to the
    directory organisation it publishes for (a police unit: Oslo's police district; the school
    and the district's service: themselves)."""
    from broker.adapters.examples import example_units  # noqa: PLC0415
    from broker.adapters.stores.devkeys import ensure_dev_keys  # noqa: PLC0415

    monkeypatch.delenv("BROKER_KEY_DIR", raising=False)
    monkeypatch.delenv("BROKER_KEY_REGISTRY", raising=False)
    expected = {
        "oslo-pd-ost": "police",
        "oslo-pd-syd": "police",
        "osloskolen-9003": "school",
        "bydel-grorud-barnevern": "child-welfare",
    }
    assert example_units() == expected
    settings = Settings(state_dir=tmp_path, policies=POLICIES)
    ensure_dev_keys(settings)
    registry = keyfiles.load_registry(settings.key_paths().registry)
    home = {
        "oslo-pd-ost": "oslo-politidistrikt",
        "oslo-pd-syd": "oslo-politidistrikt",
        "osloskolen-9003": "skole-9003",
        "bydel-grorud-barnevern": "bydel-grorud-barnevern",
    }
    directory = load_directory(load_policy(POLICIES))
    for unit, sender in expected.items():
        entry = registry.active(KeyKind.publisher, unit)
        assert entry is not None
        assert (entry.sender, entry.organisation) == (sender, home[unit])
        assert (
            directory.publisher(entry.organisation, entry.sender)
            == (directory.organisations[home[unit]])
        )
    ensure_dev_keys(settings)  # again: the same keys, nothing new
    assert keyfiles.load_registry(settings.key_paths().registry) == registry


def test_a_retired_organisation_gets_no_dev_key_nor_a_generated_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ensure_dev_keys gives every active organisation its encryption key, a retired one none,
    and `broker keys generate --recipient` refuses it, naming the day it was retired."""
    from datetime import date  # noqa: PLC0415

    from broker.adapters.policy_files import load_policy  # noqa: PLC0415
    from broker.adapters.stores.devkeys import ensure_dev_keys  # noqa: PLC0415
    from broker.core.directory import DIRECTORY_FILE  # noqa: PLC0415
    from broker.core.directory_edit import retired  # noqa: PLC0415
    from broker.testing.directories import (  # noqa: PLC0415
        TWO_SCHOOLS_TWO_DISTRICTS,
        policy_dir_with,
    )

    monkeypatch.delenv("BROKER_KEY_DIR", raising=False)
    monkeypatch.delenv("BROKER_KEY_REGISTRY", raising=False)
    policies = policy_dir_with(POLICIES, tmp_path / "policies", TWO_SCHOOLS_TWO_DISTRICTS)
    path = policies / DIRECTORY_FILE
    roles = load_policy(policies).recipients
    edit = retired(
        path.read_bytes(), str(path), roles, "skole-9002", on=date(2026, 6, 30), reason="x"
    )
    path.write_bytes(edit[0])
    settings = Settings(state_dir=tmp_path / "state", policies=policies)
    ensure_dev_keys(settings)
    registry = keyfiles.load_registry(settings.key_paths().registry)
    assert registry.active(KeyKind.recipient, "skole-9001") is not None
    assert registry.active(KeyKind.recipient, "skole-9002") is None
    monkeypatch.setenv("BROKER_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("BROKER_POLICY_DIR", str(policies))
    refused = CliRunner().invoke(app, ["generate", "--recipient", "skole-9002"])
    assert refused.exit_code == 2
    assert "'skole-9002' was retired on 2026-06-30" in refused.output


def test_keys_cli_needs_sender_and_organisation_for_a_publisher(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`broker keys generate --publisher` without --sender or --organisation, with an unknown
    class, or either option on a recipient key: refused, naming the option, nothing written."""
    monkeypatch.setenv("BROKER_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    for args, message in (
        (["--publisher", "u", "--organisation", "o"], "--sender: required for a publisher key"),
        (["--publisher", "u", "--sender", "school"], "--organisation: required"),
        (
            ["--publisher", "u", "--sender", "gossip", "--organisation", "o"],
            "--sender: must be one of child-welfare, police, school",
        ),
        (["--recipient", "skole-9002", "--sender", "school"], "--sender: only for --publisher"),
        # an encryption key is an organisation's, not a role's
        (["--recipient", "school"], "--recipient: 'school' is not an organisation"),
        # a publisher is an organisation of the directory, of a kind that sends its class
        (
            ["--publisher", "u", "--sender", "school", "--organisation", "osloskolen"],
            "--organisation: the publishing organisation is not in the directory",
        ),
        (
            ["--publisher", "u", "--sender", "police", "--organisation", "skole-9003"],
            "is a school, which does not send police notices",
        ),
    ):
        result = runner.invoke(app, ["generate", *args])
        assert result.exit_code == 2, result.output
        assert message in result.output
    assert not (tmp_path / "keys" / "private").exists()
    ok = runner.invoke(
        app, ["generate", "--publisher", "u", "--sender", "school", "--organisation", "skole-9003"]
    )
    assert ok.exit_code == 0, ok.output
    listing = runner.invoke(app, ["list"]).output
    assert "school" in listing
    assert "skole-9003" in listing


def test_a_writer_without_its_key_does_not_start(tmp_path: Path, now: datetime) -> None:
    paths = KeyPaths.under(tmp_path / "keys")
    keyfiles.ensure(paths, KeyKind.broker, BROKER_OWNER, now)
    with pytest.raises(ConfigError, match="broker keys generate --audit-writer reviewer"):
        keyfiles.writer_key(paths, keyfiles.load_registry(paths.registry), writers.REVIEWER)
    with pytest.raises(ConfigError, match="not one of"):
        keyfiles.writer_key(paths, keyfiles.load_registry(paths.registry), "mallory")


def test_the_registry_file_holds_the_rendered_registry(paths: KeyPaths) -> None:
    """save_registry writes the core's rendering (header and all); load_registry parses it
    back, and a missing file is an empty registry only when asked for."""
    keyfiles.generate(paths, KeyKind.broker, BROKER_OWNER, NOW)
    registry = keyfiles.load_registry(paths.registry)
    assert paths.registry.read_text(encoding="utf-8") == render_registry(registry)
    other = paths.root / "copy.yaml"
    keyfiles.save_registry(other, registry)
    assert keyfiles.load_registry(other) == registry
    assert keyfiles.load_registry(paths.root / "none.yaml", missing_ok=True) == Registry()
    with pytest.raises(ConfigError, match=r"none\.yaml does not exist"):
        keyfiles.load_registry(paths.root / "none.yaml")


def test_local_keys_bound_before_organisations_are_set_aside_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A local key folder whose example unit is bound to its own id (as before publishers were
    organisations) is moved aside whole and made anew; a current one is left alone, and an
    operator's registry elsewhere is never moved."""
    from broker.adapters.stores.devkeys import ensure_dev_keys, set_aside_stale  # noqa: PLC0415

    monkeypatch.delenv("BROKER_KEY_DIR", raising=False)
    monkeypatch.delenv("BROKER_KEY_REGISTRY", raising=False)
    settings = Settings(state_dir=tmp_path, policies=POLICIES)
    paths = settings.key_paths()
    stamp = datetime(2026, 12, 2, 3, 4, 5, tzinfo=UTC)
    keyfiles.ensure(
        paths, KeyKind.publisher, "oslo-pd-ost", stamp, sender="police", organisation="oslo-pd-ost"
    )
    moved = ensure_dev_keys(settings)
    assert moved is not None
    assert moved.name.startswith("keys.stale-")
    assert (moved / "registry.yaml").is_file()
    entry = keyfiles.load_registry(paths.registry).active(KeyKind.publisher, "oslo-pd-ost")
    assert entry is not None
    assert entry.organisation == "oslo-politidistrikt"
    assert ensure_dev_keys(settings) is None  # current now: nothing moved
    elsewhere = keyfiles.KeyPaths(tmp_path / "k2", tmp_path / "reviewed" / "registry.yaml")
    keyfiles.ensure(
        elsewhere, KeyKind.publisher, "oslo-pd-ost", stamp, sender="police", organisation="x"
    )
    assert set_aside_stale(elsewhere, stamp) is None
    assert (tmp_path / "k2").is_dir()
