"""The public-key registry: who signs, who receives, with which key. Pure: the registry file
and the private key files are read and written by broker.adapters.stores.keyfiles, and keys
are made, rotated and retired by broker.core.crypto.lifecycle.

Four kinds of key pair:

* ``publisher`` (Ed25519): a publishing unit (a police unit, a school, a child-welfare
  service) signs its notices. Owner: the unit id, the last segment of the notices'
  ``ce_source``. The entry binds the unit to its ``sender`` class (``police``, ``school``,
  ``child-welfare``: the values of ``NOTICE_SENDERS``) and its ``organisation``: the worker
  accepts from a unit only the notice types of its class, so a school's key cannot speak as
  the police. All keys of one unit carry the same class and organisation.
* ``broker`` (Ed25519): the broker signs every delivery. Owner: ``broker``.
* ``recipient`` (X25519): deliveries are encrypted to the recipient. Owner: the recipient id.
* ``audit-writer`` (Ed25519): each writer of the audit topic signs every record it writes
  (broker.core.audit.writers). Owner: the writer's role, one of ``AUDIT_WRITERS``.

Public keys go in the registry (YAML; not secret, but a trust anchor: whoever edits it decides
whose signatures count, so production mounts a reviewed copy read-only into the worker).
Private keys are never in the registry, a log line, an error message or a ``repr``.

Rotation: a new key becomes ``active``; the previous one becomes ``rotated`` and still verifies
(signatures) and decrypts (deliveries sealed to it) until it is ``retired``. A retired key is
refused everywhere: retire a stolen key at once instead of rotating it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from broker.core.errors import ConfigError
from broker.core.notices import SENDERS

BROKER_OWNER = "broker"
# the roles that write the audit topic, each with its own audit-writer key; what each may write
# is broker.core.audit.writers.ENTITLED
AUDIT_WRITERS = ("worker", "audit-sealer", "reviewer", "receipts-relay", "directory-admin")
OWNER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"  # also a safe path component
ORGANISATION_PATTERN = OWNER_PATTERN  # an organisation number or a local id
KEY_ID_PATTERN = r"^(ed25519|x25519)-[0-9a-f]{16}$"
_KEY_ID_RE = re.compile(KEY_ID_PATTERN.removeprefix("^").removesuffix("$"))
# what a publisher entry binds the unit to; broker and recipient entries carry neither
BINDING_FIELDS = ("sender", "organisation")
_OLD_REGISTRY = (
    "; a registry written before publisher keys were bound to a sender class lacks it: "
    "add it to the entry"
)
Algorithm = Literal["ed25519", "x25519"]
PrivateKey = Ed25519PrivateKey | X25519PrivateKey


class KeyKind(StrEnum):
    publisher = "publisher"
    recipient = "recipient"
    broker = "broker"
    audit_writer = "audit-writer"


class KeyStatus(StrEnum):
    active = "active"  # used for new signatures / new deliveries
    rotated = "rotated"  # replaced: still verifies and decrypts
    retired = "retired"  # refused everywhere


ALGORITHMS: dict[KeyKind, Algorithm] = {
    KeyKind.publisher: "ed25519",
    KeyKind.broker: "ed25519",
    KeyKind.recipient: "x25519",
    KeyKind.audit_writer: "ed25519",
}


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64d(text: str) -> bytes:
    """Strict base64url (padding optional); ValueError on anything else."""
    if not text.isascii():
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_id_for(algorithm: Algorithm, raw_public: bytes) -> str:
    """A key id derived from the public key: an id can never silently name another key."""
    return f"{algorithm}-{hashlib.sha256(raw_public).hexdigest()[:16]}"


# --- the registry ----------------------------------------------------------------------------


class RegistryEntry(BaseModel):
    """One public key: whose, what for, and whether it still counts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key_id: str = Field(pattern=KEY_ID_PATTERN)
    owner: str = Field(pattern=OWNER_PATTERN)
    kind: KeyKind
    algorithm: Algorithm
    public_key: str = Field(description="raw 32-byte public key, base64url")
    created: datetime
    status: KeyStatus = KeyStatus.active
    rotated_at: datetime | None = None
    retired_at: datetime | None = None
    sender: str | None = Field(
        default=None, description="publisher keys only: the unit's sender class"
    )
    organisation: str | None = Field(
        default=None,
        pattern=ORGANISATION_PATTERN,
        description="publisher keys only: the organisation the unit belongs to",
    )

    @model_validator(mode="after")
    def _consistent(self) -> RegistryEntry:
        if self.algorithm != ALGORITHMS[self.kind]:
            raise ValueError(f"a {self.kind} key must be {ALGORITHMS[self.kind]}")
        try:
            raw = b64d(self.public_key)
        except ValueError:
            raise ValueError("public_key is not base64url") from None
        if len(raw) != 32:
            raise ValueError("public_key must be 32 bytes")
        if key_id_for(self.algorithm, raw) != self.key_id:
            raise ValueError("key_id does not match public_key")
        if self.kind is KeyKind.publisher:
            # required: without it the worker could not tell which notice types the unit may
            # send (registries written before sender authority lack both fields)
            if self.sender is None:
                raise ValueError(
                    f"sender: required for a publisher key (the unit's sender class, one of "
                    f"{sender_classes()}){_OLD_REGISTRY}"
                )
            if self.sender not in SENDERS:
                raise ValueError(f"sender: must be one of {sender_classes()}")
            if self.organisation is None:
                raise ValueError(
                    "organisation: required for a publisher key (the organisation the unit "
                    f"belongs to){_OLD_REGISTRY}"
                )
        else:
            for name in BINDING_FIELDS:
                if getattr(self, name) is not None:
                    raise ValueError(f"{name}: only publisher keys carry one")
        return self

    @property
    def raw_public(self) -> bytes:
        return b64d(self.public_key)

    def verifying_key(self) -> Ed25519PublicKey:
        if self.algorithm != "ed25519":
            raise ConfigError(f"key {self.key_id} is not a signing key")
        return Ed25519PublicKey.from_public_bytes(self.raw_public)

    def encryption_key(self) -> X25519PublicKey:
        if self.algorithm != "x25519":
            raise ConfigError(f"key {self.key_id} is not an encryption key")
        return X25519PublicKey.from_public_bytes(self.raw_public)


class Registry(BaseModel):
    """Every public key the broker knows. At most one active key per (kind, owner)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    keys: tuple[RegistryEntry, ...] = ()
    # by key id and by (kind, owner), built once: the worker looks a key up for every notice
    # and every delivery, and a directory of thousands of organisations must not make each
    # look-up a scan of the registry (bench/directory_bench.py)
    _by_id: dict[str, RegistryEntry] = PrivateAttr(default_factory=dict)
    _by_owner: dict[tuple[KeyKind, str], list[RegistryEntry]] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: Any, /) -> None:
        for k in self.keys:
            self._by_id.setdefault(k.key_id, k)
            self._by_owner.setdefault((k.kind, k.owner), []).append(k)

    @model_validator(mode="after")
    def _unique(self) -> Registry:
        ids = Counter(k.key_id for k in self.keys)
        dupes = sorted(i for i, n in ids.items() if n > 1)
        if dupes:
            raise ValueError(f"duplicate key_id: {', '.join(dupes)}")
        active = Counter((k.kind.value, k.owner) for k in self.keys if k.status is KeyStatus.active)
        twice = sorted(a for a, n in active.items() if n > 1)
        if twice:
            raise ValueError(
                "more than one active key for " + ", ".join(f"{k} {o}" for k, o in twice)
            )
        # a unit cannot hold one key as a school and another as the police
        for name in BINDING_FIELDS:
            seen: dict[str, set[str | None]] = {}
            for k in self.keys:
                if k.kind is KeyKind.publisher:
                    seen.setdefault(k.owner, set()).add(getattr(k, name))
            split = sorted(owner for owner, values in seen.items() if len(values) > 1)
            if split:
                raise ValueError(
                    f"{name}: the keys of publisher {', '.join(split)} disagree (all keys of "
                    "one unit carry the same)"
                )
        return self

    def get(self, key_id: str) -> RegistryEntry | None:
        return self._by_id.get(key_id)

    def owned(self, kind: KeyKind, owner: str) -> list[RegistryEntry]:
        return list(self._by_owner.get((kind, owner), ()))

    def active(self, kind: KeyKind, owner: str) -> RegistryEntry | None:
        return next((k for k in self.owned(kind, owner) if k.status is KeyStatus.active), None)

    def replace(self, *entries: RegistryEntry) -> Registry:
        """A copy with these entries added or, by key id, replaced."""
        new = {e.key_id: e for e in entries}
        kept = [new.pop(k.key_id, k) for k in self.keys]
        return Registry(keys=(*kept, *new.values()))


REGISTRY_HEADER = (
    "# Public keys of publishing units, recipients and the broker (written by `broker keys`).\n"
    "# Not secret, but a trust anchor: review changes. Private keys are never in this file.\n"
)


def parse_registry(text: str, source: str) -> Registry:
    """Validate the registry's YAML text; ConfigError naming ``source`` (its file) and the
    problem, with the entry's key id where there is one."""
    try:
        data = yaml.safe_load(text) or {}
        return Registry.model_validate(data)
    except yaml.YAMLError as exc:
        raise ConfigError(f"key registry {source}: not valid YAML: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{_where(e['loc'], data)}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors(include_url=False, include_input=False)
        )
        raise ConfigError(f"key registry {source}: {problems}") from None


def render_registry(registry: Registry) -> str:
    """The registry as its file holds it: the header, then YAML."""
    return REGISTRY_HEADER + yaml.safe_dump(
        registry.model_dump(mode="json", exclude_none=True), sort_keys=False
    )


def sender_classes() -> str:
    """The sender classes a publisher key may be bound to, for messages."""
    return ", ".join(SENDERS)


def _where(loc: tuple[int | str, ...], data: object) -> str:
    """Where in the registry a problem is: ``key <key id> (keys[i])`` and the field, so an
    operator finds the entry. The key id is shown only if it looks like one."""
    if len(loc) < 2 or loc[0] != "keys" or not isinstance(loc[1], int):
        return ".".join(map(str, loc)) or "(registry)"
    entries = data.get("keys") if isinstance(data, dict) else None
    entry = entries[loc[1]] if isinstance(entries, list) and loc[1] < len(entries) else None
    key_id = entry.get("key_id") if isinstance(entry, dict) else None
    shown = key_id if isinstance(key_id, str) and _KEY_ID_RE.fullmatch(key_id) else "(no key id)"
    return " ".join([f"key {shown} (keys[{loc[1]}])", *map(str, loc[2:])])


# --- private keys ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 private key with its registry identity. Its repr shows no key material."""

    owner: str
    key_id: str
    private: Ed25519PrivateKey = field(repr=False, compare=False)

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message)


@dataclass(frozen=True)
class DecryptionKey:
    """An X25519 private key with its registry identity. Its repr shows no key material."""

    owner: str
    key_id: str
    private: X25519PrivateKey = field(repr=False, compare=False)


def private_pem(private: PrivateKey) -> bytes:
    """A private key as its file holds it: PKCS #8 PEM, unencrypted (the file is 0600)."""
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def raw_public(private: PrivateKey) -> bytes:
    return private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
