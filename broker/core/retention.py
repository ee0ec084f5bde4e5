"""Retention by crypto-shredding: per-notice data keys, how long they live, and purging them.

Every notice's deliveries are encrypted under keys derived from one random data key
(broker.core.crypto.sealing). The data-key store keeps it, with the notice type and when it was
made, so the
broker can answer an access request or an audit inquiry about what it disclosed. Once the
retention period of the notice type (``policies/retention.yaml``) has passed, ``purge``
destroys the key: the ciphertexts left on Kafka, in backups or in the audit trail can no longer
be read by the broker or its operators. Audit records commit to ciphertext hashes and field
names only, so they still verify.

The period is read from the policy at purge time, never frozen into the store: a lawyer who
shortens a period shortens it for notices already received.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal, Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from broker.adapters.stores import keyfiles
from broker.core.crypto.registry import BROKER_OWNER, KeyKind, KeyStatus
from broker.core.deployment.topics import MAX_LIFETIME_DAYS
from broker.core.errors import ConfigError, FieldProblem, NoticeError, PolicyError
from broker.core.notices import NOTICE_MODELS

RETENTION_FILE = "retention.yaml"
# Dead letters' sealed copies have data keys too, kept under this kind (not a notice type).
DEAD_LETTER_KIND = "dead-letter"


class RetentionError(NoticeError):
    """A notice arrived whose data key was already destroyed (a replay of an old notice):
    it is dead-lettered, never re-keyed."""


# --- the policy ------------------------------------------------------------------------------

DELIVERY_TOPIC_DAYS = MAX_LIFETIME_DAYS  # deliveries and notices are gone from Kafka by then


class RetentionRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    notice_type: str
    # at least as long as the delivery topics keep a delivery: a purge must never leave a
    # delivery on Kafka whose key is gone for the broker but not yet for Kafka's retention
    days: int = Field(
        ge=DELIVERY_TOPIC_DAYS, le=3650, description="days after receipt until the key is destroyed"
    )
    reason: str = Field(min_length=1, description="why this long: the law or need it serves")
    verified: Literal["confirmed", "content-only", "unverified"]


@dataclass(frozen=True)
class RetentionPolicy:
    rules: Mapping[str, RetentionRule]

    def longest(self) -> timedelta:
        return timedelta(days=max((r.days for r in self.rules.values()), default=0))

    def period(self, notice_type: str) -> timedelta | None:
        rule = self.rules.get(notice_type)
        return timedelta(days=rule.days) if rule else None


def load_retention(policy_dir: Path) -> RetentionPolicy:
    """Read policies/retention.yaml: one rule per notice type, every notice type covered."""
    path = policy_dir / RETENTION_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PolicyError(str(path), ["file is missing"]) from None
    except yaml.YAMLError as exc:
        raise PolicyError(str(path), [f"not valid YAML: {exc}"]) from None
    items = data.get("retention") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise PolicyError(str(path), ["expected a top-level 'retention:' list"])
    problems: list[str] = []
    rules: dict[str, RetentionRule] = {}
    known = sorted({t for t, _ in NOTICE_MODELS} | {DEAD_LETTER_KIND})
    for i, item in enumerate(items):
        label = item.get("notice_type", f"#{i + 1}") if isinstance(item, dict) else f"#{i + 1}"
        try:
            rule = RetentionRule.model_validate(item)
        except ValidationError as exc:
            problems += [
                f"{label}: {'.'.join(map(str, e['loc'])) or '(entry)'}: {e['msg']}"
                for e in exc.errors(include_url=False, include_input=False)
            ]
            continue
        if rule.notice_type not in known:
            problems.append(f"{label}: notice_type: unknown notice type (known: {known})")
        elif rule.notice_type in rules:
            problems.append(f"{label}: notice_type: more than one rule")
        else:
            rules[rule.notice_type] = rule
    problems += [f"{t}: no retention rule for this notice type" for t in known if t not in rules]
    if problems:
        raise PolicyError(str(path), problems)
    return RetentionPolicy(rules)


# --- the data-key store ----------------------------------------------------------------------


@dataclass(frozen=True)
class DataKeyEntry:
    """A stored data key's bookkeeping. The key itself is never part of an entry."""

    notice_id: str
    notice_type: str
    created_at: datetime
    destroyed_at: datetime | None = None


class DataKeyStore(Protocol):
    def data_key(self, notice_id: str, notice_type: str, now: datetime) -> bytes:
        """The notice's data key, created on first use (a reprocessed notice gets the same
        key). RetentionError if it was destroyed."""
        ...

    def lookup(self, notice_id: str) -> bytes | None:
        """The data key, or None if unknown or destroyed."""
        ...

    def entries(self) -> list[DataKeyEntry]: ...

    def destroy(self, notice_ids: Iterable[str], now: datetime) -> int:
        """Destroy these keys (keeping a tombstone); returns how many were destroyed."""
        ...


def _destroyed(notice_id: str) -> RetentionError:
    return RetentionError(
        "data-key-destroyed",
        [FieldProblem("notice_id", "the retention period of this notice has ended")],
    )


@dataclass
class MemoryDataKeyStore:
    """A DataKeyStore in memory, for tests."""

    _keys: dict[str, tuple[DataKeyEntry, bytes | None]] = field(default_factory=dict, repr=False)

    def data_key(self, notice_id: str, notice_type: str, now: datetime) -> bytes:
        found = self._keys.get(notice_id)
        if found is None:
            key = secrets.token_bytes(32)
            self._keys[notice_id] = (DataKeyEntry(notice_id, notice_type, now), key)
            return key
        if found[1] is None:
            raise _destroyed(notice_id)
        return found[1]

    def lookup(self, notice_id: str) -> bytes | None:
        found = self._keys.get(notice_id)
        return found[1] if found else None

    def entries(self) -> list[DataKeyEntry]:
        return [entry for entry, _ in self._keys.values()]

    def destroy(self, notice_ids: Iterable[str], now: datetime) -> int:
        n = 0
        for nid in notice_ids:
            found = self._keys.get(nid)
            if found and found[1] is not None:
                entry = DataKeyEntry(nid, found[0].notice_type, found[0].created_at, now)
                self._keys[nid] = (entry, None)
                n += 1
        return n


_SCHEMA = """
CREATE TABLE IF NOT EXISTS data_keys (
    notice_id    TEXT PRIMARY KEY,
    notice_type  TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    data_key     BLOB,          -- NULL once destroyed
    destroyed_at TEXT
)
"""


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class SqliteDataKeyStore:
    """A DataKeyStore in one SQLite file (mode 0600, directory 0700), shared by the worker and
    `broker retention purge`. ``secure_delete`` overwrites a destroyed key's bytes in the file;
    what the file system or backups kept is outside its reach (threat model: use a KMS)."""

    def __init__(self, path: Path) -> None:
        """Open (or create) the store; ConfigError naming the file if it cannot be opened or
        is not an SQLite database (a corrupt or foreign file is never overwritten)."""
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600))
            os.chmod(path, 0o600)
        except OSError as exc:
            raise ConfigError(f"data-key store {path}: cannot be opened ({exc.strerror})") from None
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None)
        try:
            self._db.execute("PRAGMA secure_delete = ON")
            # WAL: no fsync per data key (a notice's outputs count only once its Kafka
            # transaction commits, after this). destroy() checkpoints and truncates the WAL, so
            # that the pages holding a destroyed key are overwritten (secure_delete) and gone
            # from the -wal file.
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.execute(_SCHEMA)
            self._db.execute("SELECT 1 FROM data_keys LIMIT 1").fetchone()  # reads a page
        except sqlite3.DatabaseError as exc:
            self._db.close()
            # sqlite's messages ("file is not a database") carry no content of the file
            raise ConfigError(
                f"data-key store {path}: cannot be used as an SQLite database ({exc}); restore "
                "it from a backup (it holds the only copies of the data keys: never delete it)"
            ) from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SqliteDataKeyStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def data_key(self, notice_id: str, notice_type: str, now: datetime) -> bytes:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute(
                "SELECT data_key, destroyed_at FROM data_keys WHERE notice_id = ?", (notice_id,)
            ).fetchone()
            if row is None:
                key = secrets.token_bytes(32)
                db.execute(
                    "INSERT INTO data_keys (notice_id, notice_type, created_at, data_key) "
                    "VALUES (?, ?, ?, ?)",
                    (notice_id, notice_type, now.astimezone(UTC).isoformat(), key),
                )
            elif row[0] is None:
                raise _destroyed(notice_id)
            else:
                key = bytes(row[0])
            db.execute("COMMIT")
            return key
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def lookup(self, notice_id: str) -> bytes | None:
        row = self._db.execute(
            "SELECT data_key FROM data_keys WHERE notice_id = ?", (notice_id,)
        ).fetchone()
        return bytes(row[0]) if row and row[0] is not None else None

    def entries(self) -> list[DataKeyEntry]:
        rows = self._db.execute(
            "SELECT notice_id, notice_type, created_at, destroyed_at FROM data_keys "
            "ORDER BY created_at, notice_id"
        ).fetchall()
        return [DataKeyEntry(r[0], r[1], datetime.fromisoformat(r[2]), _ts(r[3])) for r in rows]

    def destroy(self, notice_ids: Iterable[str], now: datetime) -> int:
        ids = list(notice_ids)
        when = now.astimezone(UTC).isoformat()
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            n = 0
            for nid in ids:
                cur = db.execute(
                    "UPDATE data_keys SET data_key = NULL, destroyed_at = ? "
                    "WHERE notice_id = ? AND data_key IS NOT NULL",
                    (when, nid),
                )
                n += cur.rowcount
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return n


# --- purging ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PurgeItem:
    entry: DataKeyEntry
    expires_at: datetime | None
    action: Literal["destroy", "keep-no-rule"]


@dataclass(frozen=True)
class PurgeReport:
    items: tuple[PurgeItem, ...]
    destroyed: int
    dry_run: bool
    kept: int = 0  # live keys not yet due


def due(entries: Iterable[DataKeyEntry], policy: RetentionPolicy, now: datetime) -> list[PurgeItem]:
    """Live keys past their retention period, and live keys of a type with no rule (listed so
    an operator sees them; never destroyed without a rule that says so)."""
    out = []
    for entry in entries:
        if entry.destroyed_at is not None:
            continue
        period = policy.period(entry.notice_type)
        if period is None:
            out.append(PurgeItem(entry, None, "keep-no-rule"))
        elif entry.created_at + period <= now:
            out.append(PurgeItem(entry, entry.created_at + period, "destroy"))
    return out


def purge(
    store: DataKeyStore, policy: RetentionPolicy, now: datetime, *, dry_run: bool = False
) -> PurgeReport:
    entries = store.entries()
    items = due(entries, policy, now)
    doomed = [i.entry.notice_id for i in items if i.action == "destroy"]
    destroyed = 0 if dry_run else store.destroy(doomed, now)
    live = sum(1 for e in entries if e.destroyed_at is None)
    return PurgeReport(tuple(items), destroyed, dry_run, kept=live - len(doomed))


def shred_inbox_keys(
    paths: keyfiles.KeyPaths, now: datetime, policy: RetentionPolicy, *, dry_run: bool = False
) -> list[str]:
    """Destroy the private part of the broker's inbox keys that were rotated out longer than
    the longest retention period ago. Every notice sealed to such a key (on the notices topic,
    and on the dead-letter topic, which never expires) is past retention: without the private
    key nobody can read it again. Rotate the inbox key regularly (say monthly) for this to
    bite. Returns the key ids destroyed (or, with ``dry_run``, that would be)."""
    registry = keyfiles.load_registry(paths.registry, missing_ok=True)
    due = [
        e
        for e in registry.owned(KeyKind.recipient, BROKER_OWNER)
        if e.status is not KeyStatus.active
        and (e.rotated_at or e.retired_at or e.created) + policy.longest() < now
        and keyfiles.has_private(paths, e)
    ]
    if not dry_run:
        for entry in due:
            keyfiles.retire(paths, entry.key_id, now, destroy_private=True)
    return [e.key_id for e in due]
