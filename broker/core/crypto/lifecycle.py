"""A key's life: generated, rotated, retired. Pure: each operation takes the registry and
returns a KeyChange (the registry after it, and a new key's private part for the caller to
store: broker.adapters.stores.keyfiles writes both).

An owner id must be safe as a path component; a publisher key is bound to its unit's sender
class and organisation, which all keys of the unit share (broker.core.crypto.registry).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from broker.core.crypto.registry import (
    ALGORITHMS,
    AUDIT_WRITERS,
    BINDING_FIELDS,
    BROKER_OWNER,
    OWNER_PATTERN,
    KeyKind,
    KeyStatus,
    PrivateKey,
    Registry,
    RegistryEntry,
    b64e,
    key_id_for,
    raw_public,
    sender_classes,
)
from broker.core.errors import ConfigError
from broker.core.notices import SENDERS

_OWNER_RE = re.compile(OWNER_PATTERN.removeprefix("^").removesuffix("$"))


@dataclass(frozen=True)
class KeyChange:
    """A key operation's result: the registry after it, the key it concerns, for a new key its
    private part (never in the registry; the caller stores it), for a rotation the key it
    replaced. Its repr shows no key material."""

    registry: Registry
    entry: RegistryEntry
    private: PrivateKey | None = field(default=None, repr=False, compare=False)
    previous: RegistryEntry | None = None


def check_owner(kind: KeyKind, owner: str) -> None:
    """ConfigError unless ``owner`` is a safe id (it becomes a directory name) of this kind."""
    if not _OWNER_RE.fullmatch(owner):
        raise ConfigError(
            f"owner: '{owner}' is not a valid {kind} id (letters, digits, '.', '_', '-'; "
            "starting with a letter or digit)"
        )
    if kind is KeyKind.broker and owner != BROKER_OWNER:
        raise ConfigError(f"owner: the broker's keys are owned by '{BROKER_OWNER}'")
    if kind is KeyKind.audit_writer and owner not in AUDIT_WRITERS:
        raise ConfigError(
            f"owner: an audit-writer key is owned by one of {', '.join(AUDIT_WRITERS)}"
        )


Binding = tuple[str | None, str | None]  # (sender, organisation)


def _binding(
    registry: Registry, kind: KeyKind, owner: str, sender: str | None, organisation: str | None
) -> Binding:
    """The sender class and organisation a new key of ``owner`` gets: those of the unit's
    existing keys (a unit never changes class; a different one needs a new unit id), else the
    ones given, which a publisher key requires."""
    if kind is not KeyKind.publisher:
        for name, value in zip(BINDING_FIELDS, (sender, organisation), strict=True):
            if value is not None:
                raise ConfigError(f"{name}: only publisher keys carry one")
        return None, None
    existing = registry.owned(kind, owner)
    if existing:
        bound = existing[0]
        for name, value in zip(BINDING_FIELDS, (sender, organisation), strict=True):
            if value is not None and value != getattr(bound, name):
                raise ConfigError(
                    f"{name}: publisher '{owner}' is registered with another {name}; the keys "
                    "of one unit keep theirs (register the unit under a new id instead)"
                )
        return bound.sender, bound.organisation
    if sender is None:
        raise ConfigError(f"sender: required for a publisher key (one of {sender_classes()})")
    if sender not in SENDERS:
        raise ConfigError(f"sender: must be one of {sender_classes()}")
    if organisation is None:
        raise ConfigError(
            "organisation: required for a publisher key (the organisation the unit belongs to)"
        )
    if not _OWNER_RE.fullmatch(organisation):
        raise ConfigError(
            "organisation: not a valid organisation id (letters, digits, '.', '_', '-'; "
            "starting with a letter or digit)"
        )
    return sender, organisation


def _new_key(
    kind: KeyKind, owner: str, now: datetime, binding: Binding
) -> tuple[RegistryEntry, PrivateKey]:
    algorithm = ALGORITHMS[kind]
    private: PrivateKey = (
        Ed25519PrivateKey.generate() if algorithm == "ed25519" else X25519PrivateKey.generate()
    )
    raw = raw_public(private)
    entry = RegistryEntry(
        key_id=key_id_for(algorithm, raw),
        owner=owner,
        kind=kind,
        algorithm=algorithm,
        public_key=b64e(raw),
        created=now,
        sender=binding[0],
        organisation=binding[1],
    )
    return entry, private


def generate_key(
    registry: Registry,
    kind: KeyKind,
    owner: str,
    now: datetime,
    *,
    sender: str | None = None,
    organisation: str | None = None,
) -> KeyChange:
    """A new key pair for an owner that has no active key of this kind (else: rotate).
    A publisher key needs the unit's ``sender`` class and ``organisation``."""
    check_owner(kind, owner)
    current = registry.active(kind, owner)
    if current is not None:
        raise ConfigError(
            f"{kind} '{owner}' already has an active key {current.key_id}; use `broker keys rotate`"
        )
    binding = _binding(registry, kind, owner, sender, organisation)
    entry, private = _new_key(kind, owner, now, binding)
    return KeyChange(registry.replace(entry), entry, private)


def rotate_key(
    registry: Registry,
    kind: KeyKind,
    owner: str,
    now: datetime,
    *,
    sender: str | None = None,
    organisation: str | None = None,
) -> KeyChange:
    """A new active key; the previous active key stays valid as ``rotated`` until retired.
    A publisher's new key keeps the unit's sender class and organisation."""
    check_owner(kind, owner)
    old = registry.active(kind, owner)
    binding = _binding(registry, kind, owner, sender, organisation)
    entry, private = _new_key(kind, owner, now, binding)
    if old is None:
        return KeyChange(registry.replace(entry), entry, private)
    old = old.model_copy(update={"status": KeyStatus.rotated, "rotated_at": now})
    return KeyChange(registry.replace(old, entry), entry, private, previous=old)


def ensure_key(
    registry: Registry,
    kind: KeyKind,
    owner: str,
    now: datetime,
    *,
    sender: str | None = None,
    organisation: str | None = None,
) -> KeyChange:
    """The owner's active key, generated if there is none. An existing publisher key must
    carry the ``sender`` and ``organisation`` given (ConfigError otherwise)."""
    current = registry.active(kind, owner)
    if current is None:
        return generate_key(registry, kind, owner, now, sender=sender, organisation=organisation)
    _binding(registry, kind, owner, sender, organisation)  # agrees, or ConfigError
    return KeyChange(registry, current)


def retire_key(registry: Registry, key_id: str, now: datetime) -> KeyChange:
    """Refuse a key from now on (stolen, or past its use)."""
    entry = registry.get(key_id)
    if entry is None:
        raise ConfigError(f"key_id: unknown key '{key_id}'")
    entry = entry.model_copy(update={"status": KeyStatus.retired, "retired_at": now})
    return KeyChange(registry.replace(entry), entry)
