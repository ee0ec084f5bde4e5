"""Key operations on a registry value: a new key and its private part, rotation that keeps the
old key, retirement, and the owner and binding checks; no files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from broker.core.crypto.lifecycle import ensure_key, generate_key, retire_key, rotate_key
from broker.core.crypto.registry import (
    ALGORITHMS,
    KeyKind,
    KeyStatus,
    Registry,
    key_id_for,
    private_pem,
    raw_public,
)
from broker.core.errors import ConfigError
from tests.conftest import secret_forms

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=30)
POLICE = {"sender": "police", "organisation": "oslo-politidistrikt"}  # a police unit's binding
OWNERS = {
    KeyKind.publisher: "oslo-pd-ost",
    KeyKind.recipient: "school",
    KeyKind.broker: "broker",
    KeyKind.audit_writer: "worker",
}


@pytest.mark.parametrize("kind", list(KeyKind))
def test_a_new_key_comes_with_its_private_part_kept_out_of_reprs(kind: KeyKind) -> None:
    """The private part matches the entry's public key and id; the change's repr hides it."""
    binding = POLICE if kind is KeyKind.publisher else {}
    change = generate_key(Registry(), kind, OWNERS[kind], NOW, **binding)
    assert change.private is not None
    assert raw_public(change.private) == change.entry.raw_public
    assert change.entry.key_id == key_id_for(ALGORITHMS[kind], change.entry.raw_public)
    assert change.registry.active(kind, OWNERS[kind]) == change.entry
    for form in secret_forms(private_pem(change.private)):
        assert form not in repr(change)


def test_a_second_generate_is_refused() -> None:
    """One active key per owner: generating again says to rotate."""
    first = generate_key(Registry(), KeyKind.recipient, "school", NOW)
    with pytest.raises(ConfigError, match=r"already has an active key .*broker keys rotate"):
        generate_key(first.registry, KeyKind.recipient, "school", NOW)


def test_rotation_keeps_the_old_key_as_rotated() -> None:
    """The new key is active; the one it replaced is `rotated` (still verifies and decrypts)."""
    first = generate_key(Registry(), KeyKind.recipient, "school", NOW)
    change = rotate_key(first.registry, KeyKind.recipient, "school", LATER)
    assert change.previous is not None
    assert change.previous.key_id == first.entry.key_id
    assert (change.previous.status, change.previous.rotated_at) == (KeyStatus.rotated, LATER)
    assert change.registry.active(KeyKind.recipient, "school") == change.entry
    assert change.registry.get(first.entry.key_id) == change.previous
    assert rotate_key(Registry(), KeyKind.broker, "broker", NOW).previous is None


def test_retire_marks_a_key_retired_and_refuses_an_unknown_id() -> None:
    """A retired key stays in the registry, refused; an unknown key id is a ConfigError."""
    first = generate_key(Registry(), KeyKind.broker, "broker", NOW)
    change = retire_key(first.registry, first.entry.key_id, LATER)
    assert (change.entry.status, change.entry.retired_at) == (KeyStatus.retired, LATER)
    assert change.registry.get(first.entry.key_id) == change.entry
    assert change.private is None
    with pytest.raises(ConfigError, match="key_id: unknown key 'x25519-0000000000000000'"):
        retire_key(first.registry, "x25519-0000000000000000", LATER)


def test_ensure_generates_only_when_there_is_no_active_key() -> None:
    """The first call makes a key; the next returns it and changes nothing."""
    first = ensure_key(Registry(), KeyKind.recipient, "school", NOW)
    assert first.private is not None
    again = ensure_key(first.registry, KeyKind.recipient, "school", LATER)
    assert again.entry == first.entry
    assert again.private is None
    assert again.registry is first.registry


@pytest.mark.parametrize("owner", ["../escape", "a/b", "", ".hidden", "x" * 101])
def test_owner_ids_that_are_not_safe_path_components_are_refused(owner: str) -> None:
    """An owner id becomes a directory name: traversal and oddities are refused up front."""
    with pytest.raises(ConfigError, match="owner"):
        generate_key(Registry(), KeyKind.publisher, owner, NOW, **POLICE)


def test_the_broker_and_audit_writers_have_fixed_owners() -> None:
    """The broker's keys are owned by `broker`; an audit-writer key by a writer role."""
    with pytest.raises(ConfigError, match="owned by 'broker'"):
        generate_key(Registry(), KeyKind.broker, "other", NOW)
    with pytest.raises(ConfigError, match="owned by one of worker, audit-sealer"):
        generate_key(Registry(), KeyKind.audit_writer, "mallory", NOW)


def test_rotation_keeps_the_units_binding_and_refuses_another() -> None:
    """A rotated key inherits the unit's class and organisation; asking for another class or
    organisation (to turn a school unit into a police one) is refused."""
    school = {"sender": "school", "organisation": "osloskolen"}
    first = generate_key(Registry(), KeyKind.publisher, "osloskolen-9003", NOW, **school)
    change = rotate_key(first.registry, KeyKind.publisher, "osloskolen-9003", NOW)
    new = change.entry
    assert (new.sender, new.organisation) == ("school", "osloskolen")
    again = rotate_key(change.registry, KeyKind.publisher, "osloskolen-9003", NOW, sender="school")
    assert again.entry.sender == "school"
    with pytest.raises(ConfigError, match="sender: publisher 'osloskolen-9003' is registered"):
        rotate_key(again.registry, KeyKind.publisher, "osloskolen-9003", NOW, sender="police")
    with pytest.raises(ConfigError, match="organisation: publisher 'osloskolen-9003' is"):
        rotate_key(
            again.registry, KeyKind.publisher, "osloskolen-9003", NOW, organisation="oslo-pd"
        )
    registry = again.registry
    assert {k.sender for k in registry.owned(KeyKind.publisher, "osloskolen-9003")} == {"school"}
    assert len(registry.keys) == 3


def test_ensure_checks_an_existing_keys_binding() -> None:
    """`ensure` returns the unit's key when it has the class asked for, else refuses."""
    first = ensure_key(Registry(), KeyKind.publisher, "unit-a", NOW, **POLICE)
    registry = first.registry
    assert ensure_key(registry, KeyKind.publisher, "unit-a", NOW, **POLICE).entry == first.entry
    with pytest.raises(ConfigError, match="sender: publisher 'unit-a' is registered"):
        ensure_key(
            registry,
            KeyKind.publisher,
            "unit-a",
            NOW,
            sender="school",
            organisation=POLICE["organisation"],
        )
    with pytest.raises(ConfigError, match="sender: required"):
        ensure_key(registry, KeyKind.publisher, "unit-b", NOW)
