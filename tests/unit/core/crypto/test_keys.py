"""Key files and the registry: 0600 files, rotation, tamper checks, no key material leaks."""

from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from typer.testing import CliRunner

from broker.cli.keys import app
from broker.core.crypto import keys
from broker.core.crypto.keys import KeyKind, KeyPaths, KeyStatus
from broker.core.errors import ConfigError
from broker.core.notices import NOTICE_SENDERS
from tests.conftest import POLICIES, file_mode

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
POLICE = {"sender": "police", "organisation": "oslo-politidistrikt"}  # a police unit's binding


@pytest.fixture
def paths(tmp_path: Path) -> KeyPaths:
    return KeyPaths.under(tmp_path / "keys")


_mode = file_mode


def secret_forms(path: Path) -> list[str]:
    """Every way a private key could show up in text: PEM body lines, raw bytes in hex and
    base64 (standard and url-safe)."""
    pem = path.read_bytes()
    private = serialization.load_pem_private_key(pem, password=None)
    raw = private.private_bytes(  # type: ignore[union-attr]
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    body = [line for line in pem.decode().splitlines() if not line.startswith("-----")]
    return [
        *body,
        raw.hex(),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    ]


def test_private_key_file_is_0600_in_0700_directories(paths: KeyPaths, wide_umask: None) -> None:
    """Even under umask 000, the private key is 0600 and every directory above it 0700."""
    entry = keys.generate(paths, KeyKind.publisher, "oslo-pd-ost", NOW, **POLICE)
    path = paths.private_file(KeyKind.publisher, "oslo-pd-ost", entry.key_id)
    assert _mode(path) == 0o600
    for directory in (path.parent, path.parent.parent, paths.root / "private", paths.root):
        assert _mode(directory) == 0o700, directory


def test_private_key_file_is_never_replaced(paths: KeyPaths) -> None:
    """Creating a key file where one exists fails and leaves the existing file untouched."""
    target = paths.root / "private" / "broker" / "broker" / "x.pem"
    keys.write_private(target, b"first", paths.root)
    with pytest.raises(ConfigError, match="already exists"):
        keys.write_private(target, b"second", paths.root)
    assert target.read_bytes() == b"first"
    assert [p.name for p in target.parent.iterdir()] == ["x.pem"]  # no temporary file left


def test_registry_holds_public_keys_only(paths: KeyPaths) -> None:
    """The registry names owner, kind and public key; no private key form appears in it."""
    entry = keys.generate(paths, KeyKind.recipient, "school", NOW)
    text = paths.registry.read_text()
    assert entry.public_key in text
    for form in secret_forms(paths.private_file(KeyKind.recipient, "school", entry.key_id)):
        assert form not in text


def test_second_generate_is_refused_and_rotate_keeps_the_old_key(paths: KeyPaths) -> None:
    """One active key per owner; rotation makes a new active key and keeps the old one usable."""
    first = keys.generate(paths, KeyKind.publisher, "oslo-pd-ost", NOW, **POLICE)
    with pytest.raises(ConfigError, match="already has an active key"):
        keys.generate(paths, KeyKind.publisher, "oslo-pd-ost", NOW, **POLICE)
    new, old = keys.rotate(paths, KeyKind.publisher, "oslo-pd-ost", NOW)
    registry = keys.load_registry(paths.registry)
    assert old is not None
    assert old.key_id == first.key_id
    assert registry.active(KeyKind.publisher, "oslo-pd-ost") == new
    assert registry.get(first.key_id).status is KeyStatus.rotated  # type: ignore[union-attr]
    assert keys.signing_key(paths, registry, KeyKind.publisher, "oslo-pd-ost").key_id == new.key_id


def test_retire_with_destroy_deletes_the_private_file(paths: KeyPaths) -> None:
    """Retiring a key marks it retired; --destroy-private removes this host's private file."""
    entry = keys.generate(paths, KeyKind.recipient, "school", NOW)
    keys.retire(paths, entry.key_id, NOW, destroy_private=True)
    assert keys.load_registry(paths.registry).get(entry.key_id).status is KeyStatus.retired  # type: ignore[union-attr]
    assert not paths.private_file(KeyKind.recipient, "school", entry.key_id).exists()


@pytest.mark.parametrize("owner", ["../escape", "a/b", "", ".hidden", "x" * 101])
def test_owner_ids_that_are_not_safe_path_components_are_refused(
    paths: KeyPaths, owner: str
) -> None:
    """An owner id becomes a directory name: traversal and oddities are refused up front."""
    with pytest.raises(ConfigError, match="owner"):
        keys.generate(paths, KeyKind.publisher, owner, NOW, **POLICE)
    assert not (paths.root / "private").exists()


def test_edited_registry_pairing_a_key_id_with_another_key_is_refused(paths: KeyPaths) -> None:
    """Key ids derive from public keys, so swapping a public key in the file is caught."""
    a = keys.generate(paths, KeyKind.publisher, "unit-a", NOW, **POLICE)
    b = keys.generate(paths, KeyKind.publisher, "unit-b", NOW, **POLICE)
    text = paths.registry.read_text().replace(b.public_key, a.public_key)
    paths.registry.write_text(text)
    with pytest.raises(ConfigError, match="key_id does not match public_key"):
        keys.load_registry(paths.registry)


def test_two_active_keys_for_one_owner_are_refused(paths: KeyPaths) -> None:
    """A registry with two active keys for the same owner and kind does not load."""
    keys.generate(paths, KeyKind.publisher, "unit-a", NOW, **POLICE)
    keys.rotate(paths, KeyKind.publisher, "unit-a", NOW)
    data = yaml.safe_load(paths.registry.read_text())
    for k in data["keys"]:
        k["status"] = "active"
    paths.registry.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="more than one active key for publisher unit-a"):
        keys.load_registry(paths.registry)


def test_private_key_readable_by_others_is_refused(paths: KeyPaths) -> None:
    """Like ssh, a private key file with group or other permissions is not used."""
    entry = keys.generate(paths, KeyKind.broker, "broker", NOW)
    path = paths.private_file(KeyKind.broker, "broker", entry.key_id)
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="mode 0644"):
        keys.signing_key(paths, keys.load_registry(paths.registry), KeyKind.broker, "broker")


def test_private_key_not_matching_the_registry_is_refused(paths: KeyPaths) -> None:
    """A private file swapped for another key does not sign under the registered key id."""
    a = keys.generate(paths, KeyKind.publisher, "unit-a", NOW, **POLICE)
    b = keys.generate(paths, KeyKind.publisher, "unit-b", NOW, **POLICE)
    pa = paths.private_file(KeyKind.publisher, "unit-a", a.key_id)
    pb = paths.private_file(KeyKind.publisher, "unit-b", b.key_id)
    pa.chmod(0o600)
    pa.write_bytes(pb.read_bytes())
    with pytest.raises(ConfigError, match="does not match the registry"):
        keys.signing_key(paths, keys.load_registry(paths.registry), KeyKind.publisher, "unit-a")


def test_key_material_never_reaches_reprs_errors_or_logs(
    paths: KeyPaths, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every error path and repr is scanned for every textual form of the private key."""
    caplog.set_level(logging.DEBUG)
    entry = keys.generate(paths, KeyKind.publisher, "unit-a", NOW, **POLICE)
    path = paths.private_file(KeyKind.publisher, "unit-a", entry.key_id)
    forms = secret_forms(path)
    registry = keys.load_registry(paths.registry)
    texts = [repr(keys.signing_key(paths, registry, KeyKind.publisher, "unit-a"))]
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
            keys.signing_key(paths, registry, KeyKind.publisher, "unit-a")
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
            "oslo-pd",
        ],
        ["generate", "--recipient", "school"],
        ["rotate", "--recipient", "school"],
        ["generate", "--recipient", "broker"],  # the broker's inbox: notices are sealed to it
        ["list"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    listing = outputs[-1]
    registry = keys.load_registry(tmp_path / "keys" / "registry.yaml")
    assert len(registry.keys) == 5
    for entry in registry.keys:
        assert entry.key_id in listing
    assert "rotated" in listing
    assert "active" in listing
    for pem in (tmp_path / "keys" / "private").rglob("*.pem"):
        for form in secret_forms(pem):
            assert all(form not in text for text in outputs)


def test_keys_cli_refuses_an_unknown_recipient_and_two_selectors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A recipient must exist in policies/; exactly one of the owner options is required."""
    monkeypatch.setenv("BROKER_STATE_DIR", str(tmp_path))
    runner = CliRunner()
    unknown = runner.invoke(app, ["generate", "--recipient", "nobody"])
    assert unknown.exit_code == 2
    assert "unknown recipient 'nobody'" in unknown.output
    both = runner.invoke(app, ["generate", "--broker", "--publisher", "x"])
    assert both.exit_code == 2
    assert "exactly one" in both.output
    assert not (tmp_path / "keys" / "private").exists()


# --- sender authority: a publishing unit is bound to its sender class and organisation ------


def _registry_doc(paths: KeyPaths) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(paths.registry.read_text())
    return doc


def _publisher_entry(doc: dict[str, Any], owner: str) -> dict[str, Any]:
    entry: dict[str, Any] = next(
        k for k in doc["keys"] if k["kind"] == "publisher" and k["owner"] == owner
    )
    return entry


def test_a_publisher_key_records_its_units_sender_class_and_organisation(
    paths: KeyPaths,
) -> None:
    """The registry entry of a publisher key carries `sender` and `organisation`; broker and
    recipient entries carry neither."""
    keys.generate(
        paths, KeyKind.publisher, "osloskolen-9003", NOW, sender="school", organisation="osloskolen"
    )
    keys.generate(paths, KeyKind.recipient, "school", NOW)
    keys.generate(paths, KeyKind.broker, "broker", NOW)
    registry = keys.load_registry(paths.registry)
    entry = registry.active(KeyKind.publisher, "osloskolen-9003")
    assert entry is not None
    assert (entry.sender, entry.organisation) == ("school", "osloskolen")
    doc = _registry_doc(paths)
    assert _publisher_entry(doc, "osloskolen-9003")["sender"] == "school"
    others = [k for k in doc["keys"] if k["kind"] != "publisher"]
    assert len(others) == 2
    assert all("sender" not in k and "organisation" not in k for k in others)


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
        keys.generate(paths, KeyKind.publisher, "osloskolen-9003", NOW, **binding)
    for value in binding.values():
        assert f"'{value}'" not in str(caught.value)
    assert not paths.registry.exists()
    assert not (paths.root / "private").exists()


def test_the_sender_classes_are_those_of_the_notice_types() -> None:
    """The allowed classes come from NOTICE_SENDERS, the table the rules use."""
    assert (
        set(keys.SENDERS) == set(NOTICE_SENDERS.values()) == {"police", "school", "child-welfare"}
    )


@pytest.mark.parametrize("kind", [KeyKind.recipient, KeyKind.broker])
def test_broker_and_recipient_keys_take_no_binding(paths: KeyPaths, kind: KeyKind) -> None:
    """Only publisher keys carry a sender class or an organisation."""
    owner = "school" if kind is KeyKind.recipient else "broker"
    for binding, field in (
        ({"sender": "school"}, "sender"),
        ({"organisation": "x"}, "organisation"),
    ):
        with pytest.raises(ConfigError, match=f"{field}: only publisher keys carry one"):
            keys.generate(paths, kind, owner, NOW, **binding)
    assert not paths.registry.exists()


@pytest.mark.parametrize("field", ["sender", "organisation"])
def test_an_edited_registry_binding_a_recipient_key_is_refused(paths: KeyPaths, field: str) -> None:
    """A `sender` or `organisation` on a recipient entry makes the registry refuse to load,
    naming the key and the field."""
    entry = keys.generate(paths, KeyKind.recipient, "school", NOW)
    doc = _registry_doc(paths)
    doc["keys"][0][field] = "school"
    paths.registry.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError) as caught:
        keys.load_registry(paths.registry)
    assert f"key {entry.key_id}" in str(caught.value)
    assert f"{field}: only publisher keys carry one" in str(caught.value)


@pytest.mark.parametrize("missing", [("sender", "organisation"), ("organisation",)])
def test_a_registry_written_before_sender_authority_is_refused_clearly(
    paths: KeyPaths, missing: tuple[str, ...]
) -> None:
    """A publisher entry without `sender` or `organisation` (as the old code wrote them)
    gives a ConfigError naming the file, the key id and the missing field, not a traceback."""
    entry = keys.generate(paths, KeyKind.publisher, "oslo-pd-ost", NOW, **POLICE)
    keys.generate(paths, KeyKind.broker, "broker", NOW)
    doc = _registry_doc(paths)
    for field in missing:
        del _publisher_entry(doc, "oslo-pd-ost")[field]
    paths.registry.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError) as caught:
        keys.load_registry(paths.registry)
    text = str(caught.value)
    assert str(paths.registry) in text
    assert f"key {entry.key_id} (keys[0])" in text
    assert f"{missing[0]}: required for a publisher key" in text
    assert caught.value.__cause__ is None
    assert "Value error" not in text


@pytest.mark.parametrize(("field", "value"), [("sender", "school"), ("organisation", "other")])
def test_the_keys_of_one_unit_must_agree_on_its_binding(
    paths: KeyPaths, field: str, value: str
) -> None:
    """A unit cannot hold a police key and a school key: an edit giving one of its keys
    another class or organisation is refused on load, naming the unit and the field."""
    keys.generate(paths, KeyKind.publisher, "unit-a", NOW, **POLICE)
    keys.rotate(paths, KeyKind.publisher, "unit-a", NOW)
    doc = _registry_doc(paths)
    doc["keys"][1][field] = value
    paths.registry.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError, match=f"{field}: the keys of publisher unit-a disagree"):
        keys.load_registry(paths.registry)


def test_rotation_keeps_the_units_binding_and_refuses_another(paths: KeyPaths) -> None:
    """A rotated key inherits the unit's class and organisation; asking for another class or
    organisation (to turn a school unit into a police one) is refused."""
    keys.generate(
        paths, KeyKind.publisher, "osloskolen-9003", NOW, sender="school", organisation="osloskolen"
    )
    new, _ = keys.rotate(paths, KeyKind.publisher, "osloskolen-9003", NOW)
    assert (new.sender, new.organisation) == ("school", "osloskolen")
    again, _ = keys.rotate(paths, KeyKind.publisher, "osloskolen-9003", NOW, sender="school")
    assert again.sender == "school"
    with pytest.raises(ConfigError, match="sender: publisher 'osloskolen-9003' is registered"):
        keys.rotate(paths, KeyKind.publisher, "osloskolen-9003", NOW, sender="police")
    with pytest.raises(ConfigError, match="organisation: publisher 'osloskolen-9003' is"):
        keys.rotate(paths, KeyKind.publisher, "osloskolen-9003", NOW, organisation="oslo-pd")
    registry = keys.load_registry(paths.registry)
    assert {k.sender for k in registry.owned(KeyKind.publisher, "osloskolen-9003")} == {"school"}
    assert len(registry.keys) == 3


def test_ensure_checks_an_existing_keys_binding(paths: KeyPaths) -> None:
    """`ensure` returns the unit's key when it has the class asked for, else refuses."""
    first = keys.ensure(paths, KeyKind.publisher, "unit-a", NOW, **POLICE)
    assert keys.ensure(paths, KeyKind.publisher, "unit-a", NOW, **POLICE) == first
    with pytest.raises(ConfigError, match="sender: publisher 'unit-a' is registered"):
        keys.ensure(
            paths,
            KeyKind.publisher,
            "unit-a",
            NOW,
            sender="school",
            organisation=POLICE["organisation"],
        )
    with pytest.raises(ConfigError, match="sender: required"):
        keys.ensure(paths, KeyKind.publisher, "unit-b", NOW)


def test_dev_keys_bind_each_example_unit_to_the_class_of_its_notices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ensure_dev_keys: units issuing incident or risk notices are police, the one issuing a
    concern report a school, the one issuing feedback child welfare; organisation = unit id."""
    from broker.adapters.examples import example_units  # noqa: PLC0415
    from broker.adapters.settings import Settings  # noqa: PLC0415
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
    registry = keys.load_registry(settings.key_paths().registry)
    for unit, sender in expected.items():
        entry = registry.active(KeyKind.publisher, unit)
        assert entry is not None
        assert (entry.sender, entry.organisation) == (sender, unit)
    ensure_dev_keys(settings)  # again: the same keys, nothing new
    assert keys.load_registry(settings.key_paths().registry) == registry


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
        (["--recipient", "school", "--sender", "school"], "--sender: only for --publisher"),
    ):
        result = runner.invoke(app, ["generate", *args])
        assert result.exit_code == 2, result.output
        assert message in result.output
    assert not (tmp_path / "keys" / "private").exists()
    ok = runner.invoke(
        app, ["generate", "--publisher", "u", "--sender", "school", "--organisation", "osloskolen"]
    )
    assert ok.exit_code == 0, ok.output
    listing = runner.invoke(app, ["list"]).output
    assert "school" in listing
    assert "osloskolen" in listing
