"""Key files: the registry file and the private key files, read and written safely.

The registry (broker.core.crypto.registry) is one YAML file, replaced atomically under a lock
so that concurrent `broker keys` runs do not lose each other's keys. Private keys live only in
files under ``<key dir>/private/<kind>/<owner>/<key id>.pem`` (PKCS #8, mode 0600, directories
0700, created atomically and never overwritten), and are used only if no one else may read
them. ``generate``, ``rotate``, ``retire`` and ``ensure`` apply the core's key operations
(broker.core.crypto.lifecycle) to these files.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import stat
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from broker.core.crypto.lifecycle import (
    KeyChange,
    check_owner,
    ensure_key,
    generate_key,
    retire_key,
    rotate_key,
)
from broker.core.crypto.registry import (
    AUDIT_WRITERS,
    DecryptionKey,
    KeyKind,
    PrivateKey,
    Registry,
    RegistryEntry,
    SigningKey,
    parse_registry,
    private_pem,
    raw_public,
    render_registry,
)
from broker.core.errors import ConfigError


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


# --- the registry file -----------------------------------------------------------------------


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
    return parse_registry(text, str(path))


def save_registry(path: Path, registry: Registry) -> None:
    """Replace the registry file atomically (a reader sees the old or the new file, whole)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    text = render_registry(registry)
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


# --- secret files ----------------------------------------------------------------------------


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


def create_secret_file(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file readable by its owner only (0600, in a 0700 folder). If
    another process created the file first, theirs is kept: both then read the same secret."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


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


# --- private keys ----------------------------------------------------------------------------


def _load_private(path: Path) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(read_secret(path), password=None)
    except (ValueError, TypeError):  # the library's messages carry no key bytes; drop them anyway
        raise ConfigError(f"private key file {path} is not a valid PKCS #8 key") from None
    if not isinstance(key, Ed25519PrivateKey | X25519PrivateKey):
        raise ConfigError(f"private key file {path} is not an Ed25519 or X25519 key")
    return key


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
    if not isinstance(private, Ed25519PrivateKey) or raw_public(private) != entry.raw_public:
        raise ConfigError(f"private key file for {entry.key_id} does not match the registry")
    return SigningKey(owner, entry.key_id, private)


def writer_key(paths: KeyPaths, registry: Registry, writer: str) -> SigningKey:
    """The active audit-writer key of ``writer`` (a role of AUDIT_WRITERS), or a ConfigError
    that says how to create it: a writer without its key does not start."""
    if writer not in AUDIT_WRITERS:
        raise ConfigError(f"audit writer: '{writer}' is not one of {', '.join(AUDIT_WRITERS)}")
    if registry.active(KeyKind.audit_writer, writer) is None:
        raise ConfigError(
            f"the {writer} has no active audit-writer key in the registry {paths.registry}: "
            f"it signs every record it writes to the audit topic, and does not start without "
            f"one (broker keys generate --audit-writer {writer})"
        )
    return signing_key(paths, registry, KeyKind.audit_writer, writer)


def decryption_keys(paths: KeyPaths, registry: Registry, recipient: str) -> list[DecryptionKey]:
    """Every private key this host holds for a recipient, rotated and retired ones included:
    old deliveries stay readable as long as their key file exists."""
    found = []
    for entry in registry.owned(KeyKind.recipient, recipient):
        path = paths.private_file(KeyKind.recipient, recipient, entry.key_id)
        if not path.exists():
            continue
        private = _load_private(path)
        if not isinstance(private, X25519PrivateKey) or raw_public(private) != entry.raw_public:
            raise ConfigError(f"private key file for {entry.key_id} does not match the registry")
        found.append(DecryptionKey(recipient, entry.key_id, private))
    if not found:
        raise ConfigError(f"recipient '{recipient}': no private key on this host")
    return found


# --- operations on the files -----------------------------------------------------------------


def _locked(paths: KeyPaths, change_of: Callable[[Registry], KeyChange]) -> KeyChange:
    """Read the registry, change it and store the change, all under the registry's lock, so two
    processes never both add a key from the same registry."""
    with registry_lock(paths.registry):
        change = change_of(load_registry(paths.registry, missing_ok=True))
        _store(paths, change)
    return change


def _store(paths: KeyPaths, change: KeyChange) -> None:
    """The new key's private file first, then the registry that names it."""
    if change.private is not None:
        entry = change.entry
        path = paths.private_file(entry.kind, entry.owner, entry.key_id)
        write_private(path, private_pem(change.private), paths.root)
    save_registry(paths.registry, change.registry)


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
    check_owner(kind, owner)  # before the lock: a bad owner id creates nothing
    return _locked(
        paths,
        lambda r: generate_key(r, kind, owner, now, sender=sender, organisation=organisation),
    ).entry


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
    check_owner(kind, owner)
    change = _locked(
        paths, lambda r: rotate_key(r, kind, owner, now, sender=sender, organisation=organisation)
    )
    return change.entry, change.previous


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
    existing publisher key must carry the ``sender`` and ``organisation`` given. Reads the
    registry without the lock, so it works on a read-only registry that has the key."""
    registry = load_registry(paths.registry, missing_ok=True)
    if registry.active(kind, owner) is None:
        try:
            return generate(paths, kind, owner, now, sender=sender, organisation=organisation)
        except ConfigError:  # another process generated it meanwhile: use theirs
            registry = load_registry(paths.registry, missing_ok=True)
            if registry.active(kind, owner) is None:  # not a race: the error was about the request
                raise
    return ensure_key(registry, kind, owner, now, sender=sender, organisation=organisation).entry


def retire(
    paths: KeyPaths, key_id: str, now: datetime, *, destroy_private: bool = False
) -> RegistryEntry:
    """Refuse a key from now on (stolen, or past its use). Optionally delete the private file:
    for a recipient key, that makes every delivery sealed to it unreadable for good."""
    with registry_lock(paths.registry):
        change = retire_key(load_registry(paths.registry), key_id, now)
        save_registry(paths.registry, change.registry)
    entry = change.entry
    if destroy_private:
        with contextlib.suppress(FileNotFoundError):
            paths.private_file(entry.kind, entry.owner, entry.key_id).unlink()
    return entry
