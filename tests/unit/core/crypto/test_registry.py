"""The registry: public keys only, ids bound to keys, one active key per owner, a publisher
unit bound to one sender class and organisation; its text parsed and rendered without files."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from broker.core.crypto.lifecycle import generate_key, rotate_key
from broker.core.crypto.registry import (
    REGISTRY_HEADER,
    KeyKind,
    Registry,
    RegistryEntry,
    parse_registry,
    private_pem,
    render_registry,
    sender_classes,
)
from broker.core.errors import ConfigError
from broker.core.notices import NOTICE_SENDERS, SENDERS
from tests.conftest import secret_forms

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
POLICE = {"sender": "police", "organisation": "oslo-politidistrikt"}  # a police unit's binding
SOURCE = "keys/registry.yaml"  # the file an error names


def _add(
    registry: Registry, kind: KeyKind, owner: str, **binding: str
) -> tuple[Registry, RegistryEntry]:
    change = generate_key(registry, kind, owner, NOW, **binding)
    return change.registry, change.entry


def _doc(registry: Registry) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(render_registry(registry))
    return doc


def _publisher_entry(doc: dict[str, Any], owner: str) -> dict[str, Any]:
    entry: dict[str, Any] = next(
        k for k in doc["keys"] if k["kind"] == "publisher" and k["owner"] == owner
    )
    return entry


def test_registry_holds_public_keys_only() -> None:
    """The registry names owner, kind and public key; no private key form appears in it."""
    change = generate_key(Registry(), KeyKind.recipient, "school", NOW)
    text = render_registry(change.registry)
    assert change.entry.public_key in text
    assert change.private is not None
    for form in secret_forms(private_pem(change.private)):
        assert form not in text


def test_a_registry_round_trips_through_its_text() -> None:
    """Rendered with its header and parsed back, a registry is the same registry."""
    registry, _ = _add(Registry(), KeyKind.publisher, "unit-a", **POLICE)
    registry, _ = _add(registry, KeyKind.broker, "broker")
    text = render_registry(registry)
    assert text.startswith(REGISTRY_HEADER)
    assert parse_registry(text, SOURCE) == registry
    assert parse_registry("", SOURCE) == Registry()


def test_look_ups_by_id_and_owner_follow_rotation_and_parsing() -> None:
    """get, owned and active answer from the keys: each id, an owner's keys in order, the new
    key active after a rotation, and the same from a registry parsed from its text."""
    registry, school = _add(Registry(), KeyKind.recipient, "skole-1")
    registry, _ = _add(registry, KeyKind.recipient, "skole-2")
    rotated = rotate_key(registry, KeyKind.recipient, "skole-1", NOW)
    for r in (rotated.registry, parse_registry(render_registry(rotated.registry), SOURCE)):
        assert [r.get(k.key_id) for k in r.keys] == list(r.keys)
        assert r.get("x25519:unknown") is None
        owned = r.owned(KeyKind.recipient, "skole-1")
        assert [k.key_id for k in owned] == [school.key_id, rotated.entry.key_id]
        assert r.active(KeyKind.recipient, "skole-1") == rotated.entry
        assert r.owned(KeyKind.broker, "skole-1") == []


def test_registry_text_that_is_not_yaml_is_named() -> None:
    """Not YAML: a ConfigError naming the source, not a traceback."""
    with pytest.raises(ConfigError, match=r"key registry keys/registry\.yaml: not valid YAML"):
        parse_registry("keys: [", SOURCE)


def test_edited_registry_pairing_a_key_id_with_another_key_is_refused() -> None:
    """Key ids derive from public keys, so swapping a public key in the file is caught."""
    registry, a = _add(Registry(), KeyKind.publisher, "unit-a", **POLICE)
    registry, b = _add(registry, KeyKind.publisher, "unit-b", **POLICE)
    text = render_registry(registry).replace(b.public_key, a.public_key)
    with pytest.raises(ConfigError, match="key_id does not match public_key"):
        parse_registry(text, SOURCE)


def test_two_active_keys_for_one_owner_are_refused() -> None:
    """A registry with two active keys for the same owner and kind does not load."""
    registry, _ = _add(Registry(), KeyKind.publisher, "unit-a", **POLICE)
    data = _doc(rotate_key(registry, KeyKind.publisher, "unit-a", NOW).registry)
    for k in data["keys"]:
        k["status"] = "active"
    with pytest.raises(ConfigError, match="more than one active key for publisher unit-a"):
        parse_registry(yaml.safe_dump(data), SOURCE)


# --- sender authority: a publishing unit is bound to its sender class and organisation ------


def test_a_publisher_key_records_its_units_sender_class_and_organisation() -> None:
    """The registry entry of a publisher key carries `sender` and `organisation`; broker and
    recipient entries carry neither."""
    registry, _ = _add(
        Registry(),
        KeyKind.publisher,
        "osloskolen-9003",
        sender="school",
        organisation="osloskolen",
    )
    registry, _ = _add(registry, KeyKind.recipient, "school")
    registry, _ = _add(registry, KeyKind.broker, "broker")
    registry = parse_registry(render_registry(registry), SOURCE)
    entry = registry.active(KeyKind.publisher, "osloskolen-9003")
    assert entry is not None
    assert (entry.sender, entry.organisation) == ("school", "osloskolen")
    doc = _doc(registry)
    assert _publisher_entry(doc, "osloskolen-9003")["sender"] == "school"
    others = [k for k in doc["keys"] if k["kind"] != "publisher"]
    assert len(others) == 2
    assert all("sender" not in k and "organisation" not in k for k in others)


def test_the_sender_classes_are_those_of_the_notice_types() -> None:
    """The allowed classes come from NOTICE_SENDERS, the table the rules use."""
    assert set(SENDERS) == set(NOTICE_SENDERS.values()) == {"police", "school", "child-welfare"}
    assert sender_classes() == "child-welfare, police, school"


@pytest.mark.parametrize("field", ["sender", "organisation"])
def test_an_edited_registry_binding_a_recipient_key_is_refused(field: str) -> None:
    """A `sender` or `organisation` on a recipient entry makes the registry refuse to load,
    naming the key and the field."""
    registry, entry = _add(Registry(), KeyKind.recipient, "school")
    doc = _doc(registry)
    doc["keys"][0][field] = "school"
    with pytest.raises(ConfigError) as caught:
        parse_registry(yaml.safe_dump(doc), SOURCE)
    assert f"key {entry.key_id}" in str(caught.value)
    assert f"{field}: only publisher keys carry one" in str(caught.value)


@pytest.mark.parametrize("missing", [("sender", "organisation"), ("organisation",)])
def test_a_registry_written_before_sender_authority_is_refused_clearly(
    missing: tuple[str, ...],
) -> None:
    """A publisher entry without `sender` or `organisation` (as the old code wrote them)
    gives a ConfigError naming the file, the key id and the missing field, not a traceback."""
    registry, entry = _add(Registry(), KeyKind.publisher, "oslo-pd-ost", **POLICE)
    registry, _ = _add(registry, KeyKind.broker, "broker")
    doc = _doc(registry)
    for field in missing:
        del _publisher_entry(doc, "oslo-pd-ost")[field]
    with pytest.raises(ConfigError) as caught:
        parse_registry(yaml.safe_dump(doc), SOURCE)
    text = str(caught.value)
    assert SOURCE in text
    assert f"key {entry.key_id} (keys[0])" in text
    assert f"{missing[0]}: required for a publisher key" in text
    assert caught.value.__cause__ is None
    assert "Value error" not in text


@pytest.mark.parametrize(("field", "value"), [("sender", "school"), ("organisation", "other")])
def test_the_keys_of_one_unit_must_agree_on_its_binding(field: str, value: str) -> None:
    """A unit cannot hold a police key and a school key: an edit giving one of its keys
    another class or organisation is refused on load, naming the unit and the field."""
    registry, _ = _add(Registry(), KeyKind.publisher, "unit-a", **POLICE)
    doc = _doc(rotate_key(registry, KeyKind.publisher, "unit-a", NOW).registry)
    doc["keys"][1][field] = value
    with pytest.raises(ConfigError, match=f"{field}: the keys of publisher unit-a disagree"):
        parse_registry(yaml.safe_dump(doc), SOURCE)
