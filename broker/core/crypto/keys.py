"""Key files and the public-key registry: who signs, who receives, with which key.

Three kinds of key pair:

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
Private keys live only in files under ``<key dir>/private/<kind>/<owner>/<key id>.pem``
(PKCS #8, mode 0600, directories 0700, created atomically and never overwritten) and never in
the registry, a log line, an error message or a ``repr``.

Rotation: a new key becomes ``active``; the previous one becomes ``rotated`` and still verifies
(signatures) and decrypts (deliveries sealed to it) until it is ``retired``. A retired key is
refused everywhere: retire a stolen key at once instead of rotating it.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import os
import re
import secrets
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Literal

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from broker.core.errors import ConfigError
from broker.core.notices import SENDERS

BROKER_OWNER = "broker"
# the roles that write the audit topic, each with its own audit-writer key; what each may write
# is broker.core.audit.writers.ENTITLED
AUDIT_WRITERS = ("worker", "audit-sealer", "reviewer", "receipts-relay")
OWNER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"  # also a safe path component
_OWNER_RE = re.compile(OWNER_PATTERN.removeprefix("^").removesuffix("$"))
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
                    f"{_senders()}){_OLD_REGISTRY}"
                )
            if self.sender not in SENDERS:
                raise ValueError(f"sender: must be one of {_senders()}")
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

    @model_validator(mode="after")
    def _unique(self) -> Registry:
        ids = [k.key_id for k in self.keys]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate key_id: {', '.join(dupes)}")
        active = [(k.kind.value, k.owner) for k in self.keys if k.status is KeyStatus.active]
        twice = sorted({a for a in active if active.count(a) > 1})
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
        return next((k for k in self.keys if k.key_id == key_id), None)

    def owned(self, kind: KeyKind, owner: str) -> list[RegistryEntry]:
        return [k for k in self.keys if k.kind is kind and k.owner == owner]

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


def load_registry(path: Path, *, missing_ok: bool = False) -> Registry:
    """Read and validate the registry; ConfigError naming the file and the problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if missing_ok:
            return Registry()
        raise ConfigError(
            f"key registry {path} does not exist (create keys with `broker keys generate`)"
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"key registry {path}: not UTF-8 text (invalid byte at offset {exc.start})"
        ) from None
    except OSError as exc:
        raise ConfigError(f"key registry {path}: cannot be read ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text) or {}
        return Registry.model_validate(data)
    except yaml.YAMLError as exc:
        raise ConfigError(f"key registry {path}: not valid YAML: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{_where(e['loc'], data)}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors(include_url=False, include_input=False)
        )
        raise ConfigError(f"key registry {path}: {problems}") from None


def _senders() -> str:
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


def save_registry(path: Path, registry: Registry) -> None:
    """Replace the registry file atomically (a reader sees the old or the new file, whole)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    text = REGISTRY_HEADER + yaml.safe_dump(
        registry.model_dump(mode="json", exclude_none=True), sort_keys=False
    )
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextlib.contextmanager
def registry_lock(path: Path) -> Iterator[None]:
    """Serialise read-modify-write of the registry between concurrent `broker keys` runs."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


# --- private key files -----------------------------------------------------------------------


@dataclass(frozen=True)
class KeyPaths:
    """Where keys live. ``root`` holds private/ and, by default, the registry and data keys."""

    root: Path
    registry: Path

    @classmethod
    def under(cls, root: Path, registry: Path | None = None) -> KeyPaths:
        return cls(root, registry or root / "registry.yaml")

    @classmethod
    def from_env(cls, state_dir: Path, env: Mapping[str, str]) -> KeyPaths:
        """``BROKER_KEY_DIR`` (default ``<state dir>/keys``) and ``BROKER_KEY_REGISTRY``
        (default ``<key dir>/registry.yaml``; point it at a reviewed, read-only copy)."""
        root = Path(env.get("BROKER_KEY_DIR") or state_dir / "keys")
        registry = env.get("BROKER_KEY_REGISTRY")
        return cls.under(root, Path(registry) if registry else None)

    @property
    def data_keys(self) -> Path:
        return self.root / "data-keys.sqlite3"

    def private_file(self, kind: KeyKind, owner: str, key_id: str) -> Path:
        return self.root / "private" / kind.value / owner / f"{key_id}.pem"


def _make_private_dirs(root: Path, directory: Path) -> None:
    """Create ``directory`` and every level below ``root`` mode 0700 (mkdir's ``parents``
    would give the intermediate levels the umask's default mode)."""
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    for level in [*reversed(directory.relative_to(root).parents), directory.relative_to(root)]:
        path = root / level
        path.mkdir(exist_ok=True, mode=0o700)
        os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask; be explicit


def write_private(path: Path, pem: bytes, root: Path | None = None) -> None:
    """Create a private key file, mode 0600, atomically, never replacing an existing file.

    Written to a temporary file opened O_EXCL with mode 0600, fsynced, then hard-linked into
    place (fails if the name exists), so no reader ever sees a partial or wider-mode file.
    """
    _make_private_dirs(root or path.parent, path.parent)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise ConfigError(f"private key file {path} already exists; not replaced") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def read_secret(path: Path, what: str = "private key file") -> bytes:
    """A secret file's bytes, if it is a regular file (no symlink) that only its owner may
    read; ConfigError naming ``what`` and the file otherwise (never its content)."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} does not exist") from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{what} {path} is not a regular file")
    if info.st_mode & 0o077:
        raise ConfigError(
            f"{what} {path} is readable by others "
            f"(mode {stat.S_IMODE(info.st_mode):04o}); it must be 0600"
        )
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot be read ({exc.strerror})") from None


def _read_private(path: Path) -> bytes:
    return read_secret(path)


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


def _pem(private: Ed25519PrivateKey | X25519PrivateKey) -> bytes:
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_private(path: Path) -> Ed25519PrivateKey | X25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(_read_private(path), password=None)
    except (ValueError, TypeError):  # the library's messages carry no key bytes; drop them anyway
        raise ConfigError(f"private key file {path} is not a valid PKCS #8 key") from None
    if not isinstance(key, Ed25519PrivateKey | X25519PrivateKey):
        raise ConfigError(f"private key file {path} is not an Ed25519 or X25519 key")
    return key


def _raw_public(private: Ed25519PrivateKey | X25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


# --- operations ------------------------------------------------------------------------------


def _check_owner(kind: KeyKind, owner: str) -> None:
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
        raise ConfigError(f"sender: required for a publisher key (one of {_senders()})")
    if sender not in SENDERS:
        raise ConfigError(f"sender: must be one of {_senders()}")
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
    paths: KeyPaths, kind: KeyKind, owner: str, now: datetime, binding: Binding = (None, None)
) -> RegistryEntry:
    algorithm = ALGORITHMS[kind]
    private = (
        Ed25519PrivateKey.generate() if algorithm == "ed25519" else X25519PrivateKey.generate()
    )
    raw = _raw_public(private)
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
    write_private(paths.private_file(kind, owner, entry.key_id), _pem(private), paths.root)
    return entry


def generate(
    paths: KeyPaths,
    kind: KeyKind,
    owner: str,
    now: datetime,
    *,
    sender: str | None = None,
    organisation: str | None = None,
) -> RegistryEntry:
    """A new key pair for an owner that has no active key of this kind (else: rotate).
    A publisher key needs the unit's ``sender`` class and ``organisation``."""
    _check_owner(kind, owner)
    with registry_lock(paths.registry):
        registry = load_registry(paths.registry, missing_ok=True)
        current = registry.active(kind, owner)
        if current is not None:
            raise ConfigError(
                f"{kind} '{owner}' already has an active key {current.key_id}; "
                "use `broker keys rotate`"
            )
        binding = _binding(registry, kind, owner, sender, organisation)
        entry = _new_key(paths, kind, owner, now, binding)
        save_registry(paths.registry, registry.replace(entry))
    return entry


def rotate(
    paths: KeyPaths,
    kind: KeyKind,
    owner: str,
    now: datetime,
    *,
    sender: str | None = None,
    organisation: str | None = None,
) -> tuple[RegistryEntry, RegistryEntry | None]:
    """A new active key; the previous active key stays valid as ``rotated`` until retired.
    A publisher's new key keeps the unit's sender class and organisation."""
    _check_owner(kind, owner)
    with registry_lock(paths.registry):
        registry = load_registry(paths.registry, missing_ok=True)
        old = registry.active(kind, owner)
        binding = _binding(registry, kind, owner, sender, organisation)
        entry = _new_key(paths, kind, owner, now, binding)
        changed = [entry]
        if old is not None:
            old = old.model_copy(update={"status": KeyStatus.rotated, "rotated_at": now})
            changed.insert(0, old)
        save_registry(paths.registry, registry.replace(*changed))
    return entry, old


def ensure(
    paths: KeyPaths,
    kind: KeyKind,
    owner: str,
    now: datetime,
    *,
    sender: str | None = None,
    organisation: str | None = None,
) -> RegistryEntry:
    """The owner's active key, generated if there is none (the demo and test fixtures). An
    existing publisher key must carry the ``sender`` and ``organisation`` given."""
    registry = load_registry(paths.registry, missing_ok=True)
    current = registry.active(kind, owner)
    if current is None:
        try:
            return generate(paths, kind, owner, now, sender=sender, organisation=organisation)
        except ConfigError:  # another process generated it meanwhile: use theirs
            registry = load_registry(paths.registry, missing_ok=True)
            current = registry.active(kind, owner)
            if current is None:  # not a race: the error was about the request itself
                raise
    _binding(registry, kind, owner, sender, organisation)  # agrees, or ConfigError
    return current


def retire(
    paths: KeyPaths, key_id: str, now: datetime, *, destroy_private: bool = False
) -> RegistryEntry:
    """Refuse a key from now on (stolen, or past its use). Optionally delete the private file:
    for a recipient key, that makes every delivery sealed to it unreadable for good."""
    with registry_lock(paths.registry):
        registry = load_registry(paths.registry)
        entry = registry.get(key_id)
        if entry is None:
            raise ConfigError(f"key_id: unknown key '{key_id}'")
        entry = entry.model_copy(update={"status": KeyStatus.retired, "retired_at": now})
        save_registry(paths.registry, registry.replace(entry))
    if destroy_private:
        with contextlib.suppress(FileNotFoundError):
            paths.private_file(entry.kind, entry.owner, entry.key_id).unlink()
    return entry


def has_private(paths: KeyPaths, entry: RegistryEntry) -> bool:
    return paths.private_file(entry.kind, entry.owner, entry.key_id).is_file()


def signing_key(paths: KeyPaths, registry: Registry, kind: KeyKind, owner: str) -> SigningKey:
    """The active signing key of a publisher (or the broker), checked against the registry."""
    if kind is KeyKind.recipient:
        raise ConfigError("recipient keys encrypt; they do not sign")
    entry = registry.active(kind, owner)
    if entry is None:
        raise ConfigError(f"{kind} '{owner}' has no active signing key in the registry")
    private = _load_private(paths.private_file(kind, owner, entry.key_id))
    if not isinstance(private, Ed25519PrivateKey) or _raw_public(private) != entry.raw_public:
        raise ConfigError(f"private key file for {entry.key_id} does not match the registry")
    return SigningKey(owner, entry.key_id, private)


def decryption_keys(paths: KeyPaths, registry: Registry, recipient: str) -> list[DecryptionKey]:
    """Every private key this host holds for a recipient, rotated and retired ones included:
    old deliveries stay readable as long as their key file exists."""
    found = []
    for entry in registry.owned(KeyKind.recipient, recipient):
        path = paths.private_file(KeyKind.recipient, recipient, entry.key_id)
        if not path.exists():
            continue
        private = _load_private(path)
        if not isinstance(private, X25519PrivateKey) or _raw_public(private) != entry.raw_public:
            raise ConfigError(f"private key file for {entry.key_id} does not match the registry")
        found.append(DecryptionKey(recipient, entry.key_id, private))
    if not found:
        raise ConfigError(f"recipient '{recipient}': no private key on this host")
    return found
