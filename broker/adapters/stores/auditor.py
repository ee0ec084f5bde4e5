"""The auditor store: the audit topic materialised into SQL, for queries and offline checks.

SQLite by default (a file, no set-up; the standard library's sqlite3) or PostgreSQL given a
``postgresql://`` URL (psycopg 3). One table holds every message of the audit topic by offset,
its value byte for byte (so the Merkle leaves can be recomputed and checked) and a few columns
extracted for queries. The store is never trusted: ``entries()`` feeds the verifier, which
recomputes every leaf from the stored bytes, and the checkpoints are checked against a witness.

The extracted columns are only an index. Nothing is reported from them as fact: a query selects
rows by column, then derives every returned row's columns again from its (verified) bytes; a
row whose stored columns disagree is returned as ``Tampered`` (offset, record, the columns),
never as data. Statistics, the review list, the access log and the chart are computed from the
bytes (a scan), and ``column_faults()`` (``broker audit verify --from store``) lists every row
whose columns disagree with its bytes. A SQLite store is created 0600 in a 0700 directory
(SQLite gives its -wal/-shm/-journal files the database file's mode).

``Syncer`` does what ``broker audit sync`` needs without any Kafka: re-verify what the store
holds, then take new messages in batches, verifying each before it is written.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from broker.core.audit.access import Access
from broker.core.audit.checkpoint import Checkpoint
from broker.core.audit.errors import AuditError, NotAnAuditMessage
from broker.core.audit.events import CHECKPOINT_TYPE, Entry, record_id_of
from broker.core.audit.faults import Fault, Report
from broker.core.audit.messages import (
    AuditMessage,
    ReceiptRecord,
    ReviewRecord,
    read_audit_message,
)
from broker.core.audit.verify import Verifier
from broker.core.records import AuditRecord
from broker.core.times import utc_z

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_entries (
    kafka_offset     BIGINT PRIMARY KEY,
    ce_type          TEXT NOT NULL,
    value            {blob} NOT NULL,
    record_id        TEXT,
    event            TEXT,
    recorded_at      TEXT,
    notice_id        TEXT,
    notice_type      TEXT,
    recipient        TEXT,
    outcome          TEXT,
    rule_id          TEXT,
    legal_basis      TEXT,
    policy_version   TEXT,
    subject_ref      TEXT,
    review_required  BOOLEAN NOT NULL DEFAULT FALSE,
    reviewed_record  TEXT,
    delivery_id      TEXT,
    tree_size        BIGINT,
    headers          TEXT
);
CREATE INDEX IF NOT EXISTS audit_entries_subject ON audit_entries (subject_ref);
CREATE INDEX IF NOT EXISTS audit_entries_recipient ON audit_entries (recipient, recorded_at);
CREATE INDEX IF NOT EXISTS audit_entries_notice ON audit_entries (notice_id);
CREATE INDEX IF NOT EXISTS audit_entries_record ON audit_entries (record_id);
CREATE INDEX IF NOT EXISTS audit_entries_delivery ON audit_entries (delivery_id);
CREATE TABLE IF NOT EXISTS audit_meta (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
"""

COLUMNS = (
    "kafka_offset",
    "ce_type",
    "value",
    "record_id",
    "event",
    "recorded_at",
    "notice_id",
    "notice_type",
    "recipient",
    "outcome",
    "rule_id",
    "legal_basis",
    "policy_version",
    "subject_ref",
    "review_required",
    "reviewed_record",
    "delivery_id",
    "tree_size",
)


class _Connection(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...
    def cursor(self) -> Any: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def close(self) -> None: ...


def _stamp(t: datetime) -> str | None:
    """Times as UTC ISO 8601 with a Z, so that text order is time order in both databases
    (None: a time without a zone, which is no time at all)."""
    if t.tzinfo is None:
        return None
    return utc_z(t)


def headers_text(headers: Sequence[tuple[str, bytes]] | None) -> str | None:
    """A message's headers as stored: they carry its writer's signature, which `verify` checks
    (an edited headers column breaks it). None: the source kept none."""
    if headers is None:
        return None
    return json.dumps([[k, base64.b64encode(v).decode("ascii")] for k, v in headers])


def headers_of(text: str | None) -> tuple[tuple[str, bytes], ...] | None:
    """The stored headers back; None (or unreadable): none kept, so no writer can be shown."""
    if text is None:
        return None
    try:
        return tuple((str(k), base64.b64decode(v, validate=True)) for k, v in json.loads(text))
    except (ValueError, TypeError):
        return None


def row_of(entry: Entry) -> tuple[Any, ...]:
    """The row for one audit-topic message: its bytes, and columns for queries read from its
    model. A message that is not one is stored and sealed like any other, but indexed by
    nothing beyond its record id (for naming it, never for trusting it)."""
    try:
        message: AuditMessage | None = read_audit_message(entry.ce_type, entry.value)
    except NotAnAuditMessage:
        message = None
    columns: dict[str, Any] = {"review_required": False}
    if message is not None:
        columns |= _columns(message)
    elif not entry.is_checkpoint:
        columns["record_id"] = record_id_of(entry.value)
    row = {"kafka_offset": entry.offset, "ce_type": entry.ce_type, "value": entry.value}
    return tuple(row.get(c, columns.get(c)) for c in COLUMNS)


def _columns(message: AuditMessage) -> dict[str, Any]:
    """The index columns of one message (those it has no value for are NULL)."""
    if isinstance(message, Checkpoint):
        return {"tree_size": message.tree_size}
    common = {
        "record_id": message.record_id,
        "event": str(message.event),
        "recorded_at": _stamp(message.recorded_at),
    }
    if isinstance(message, AuditRecord):
        return {
            **common,
            "notice_id": message.notice_id,
            "notice_type": message.notice_type,
            "recipient": message.recipient,
            "outcome": str(message.outcome) if message.outcome is not None else None,
            "rule_id": message.rule_id,
            "legal_basis": message.legal_basis.id if message.legal_basis is not None else None,
            "policy_version": message.policy_version,
            "subject_ref": message.subject_ref,
            "review_required": message.review_required,
            "delivery_id": message.delivery_id,
        }
    if isinstance(message, ReviewRecord):
        return {**common, "reviewed_record": message.reviewed_record_id}
    if isinstance(message, ReceiptRecord):
        return {**common, "recipient": message.recipient, "delivery_id": message.delivery_id}
    return {**common, "recipient": message.recipient}


def derive(offset: int, ce_type: str, value: bytes) -> dict[str, Any]:
    """The columns of a stored message as its bytes say they are."""
    return dict(zip(COLUMNS, row_of(Entry(offset, ce_type, value)), strict=True))


def _same(column: str, stored: Any, derived: Any) -> bool:
    if column == "review_required":
        return bool(stored) == bool(derived)
    if column == "value":
        return bytes(stored) == bytes(derived)
    if stored is None or derived is None:
        return stored is None and derived is None
    if column in ("kafka_offset", "tree_size"):
        return int(stored) == int(derived)
    return str(stored) == str(derived)


def disagreeing(stored: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """(the row derived from its bytes, the names of the stored columns that differ)."""
    derived = derive(int(stored["kafka_offset"]), str(stored["ce_type"]), bytes(stored["value"]))
    bad = tuple(c for c in COLUMNS if not _same(c, stored[c], derived[c]))
    return derived, bad


@dataclass(frozen=True)
class Tampered:
    """A stored row whose index columns disagree with its record bytes (names, never values)."""

    offset: int
    columns: tuple[str, ...]
    index: int | None = None  # the record's position in the log (None: a checkpoint)
    record_id: str | None = None

    def where(self) -> str:
        parts = [f"record #{self.index}" if self.index is not None else "checkpoint"]
        parts.append(f"offset {self.offset}")
        if self.record_id:
            parts.append(f"record_id {self.record_id}")
        return ", ".join(parts)

    def __str__(self) -> str:
        return (
            f"column-mismatch: {self.where()}: stored column(s) {', '.join(self.columns)} "
            "disagree with the record's bytes"
        )


class Rows(list[dict[str, Any]]):
    """Query results: documents whose columns agree with their bytes; ``tampered`` the rest."""

    def __init__(self, docs: Iterable[dict[str, Any]] = (), tampered: Iterable[Tampered] = ()):
        super().__init__(docs)
        self.tampered = list(tampered)


class StoreTampered(AuditError):
    """A row needed for an answer disagrees with its record bytes."""

    def __init__(self, tampered: Sequence[Tampered]) -> None:
        self.tampered = list(tampered)
        super().__init__("; ".join(str(t) for t in tampered))


def _key(value: Any) -> tuple[bool, str]:
    """Sort key for values that may be None (None last, like PostgreSQL)."""
    return (value is None, "" if value is None else str(value))


@dataclass(frozen=True)
class Filters:
    """What ``broker audit query`` selects on; None means any."""

    recipient: str | None = None
    legal_basis: str | None = None
    decision: str | None = None  # deliver, deny, dead-letter, review
    notice_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    policy_version: str | None = None
    subject_ref: str | None = None
    limit: int | None = None


class AuditStore:
    """One auditor store, SQLite or PostgreSQL. Methods speak plain values, never Kafka."""

    def __init__(self, conn: _Connection, dialect: str, where: str) -> None:
        self.conn = conn
        self.dialect = dialect
        self.where = where

    @classmethod
    def open(cls, target: str | Path) -> AuditStore:
        """``postgresql://…`` opens PostgreSQL; anything else is a SQLite file path."""
        text = str(target)
        if text.startswith(("postgresql://", "postgres://")):
            import psycopg  # noqa: PLC0415 (only PostgreSQL users load the driver)

            pg: Any = psycopg.connect(text, autocommit=False)
            store = cls(pg, "postgresql", _redact_url(text))
        else:
            path = Path(text)
            _private_file(path)
            store = cls(sqlite3.connect(path), "sqlite", str(path))
        store._create()
        return store

    def __enter__(self) -> AuditStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    # --- SQL in one dialect ------------------------------------------------------------------

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.dialect == "postgresql" else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(self._sql(sql), params)

    def _create(self) -> None:
        blob = "BYTEA" if self.dialect == "postgresql" else "BLOB"
        for statement in SCHEMA.format(blob=blob).split(";"):
            if statement.strip():
                self.execute(statement)
        self.conn.commit()
        try:  # a store from before messages kept their headers (and writers' signatures)
            self.execute("SELECT headers FROM audit_entries LIMIT 0")
        except Exception:
            self.conn.rollback()
            self.execute("ALTER TABLE audit_entries ADD COLUMN headers TEXT")
            self.conn.commit()

    # --- meta --------------------------------------------------------------------------------

    def meta(self, name: str) -> str | None:
        row = self.execute("SELECT value FROM audit_meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, name: str, value: str) -> None:
        self.execute(
            "INSERT INTO audit_meta (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    # --- the log -----------------------------------------------------------------------------

    def next_offset(self) -> int:
        row = self.execute("SELECT MAX(kafka_offset) FROM audit_entries").fetchone()
        return 0 if row is None or row[0] is None else int(row[0]) + 1

    def count(self) -> int:
        return int(self.execute("SELECT COUNT(*) FROM audit_entries").fetchone()[0])

    def entries(self, batch: int = 5000) -> Iterator[Entry]:
        """Every stored message in offset order, in pages (memory stays flat)."""
        last = -1
        while True:
            rows = self.execute(
                "SELECT kafka_offset, ce_type, value, headers FROM audit_entries "
                "WHERE kafka_offset > ? ORDER BY kafka_offset LIMIT ?",
                (last, batch),
            ).fetchall()
            if not rows:
                return
            for offset, ce_type, value, headers in rows:
                yield Entry(int(offset), str(ce_type), bytes(value), headers_of(headers))
            last = int(rows[-1][0])

    def _stored_rows(
        self, where: str = "", params: Sequence[Any] = (), batch: int = 2000
    ) -> Iterator[dict[str, Any]]:
        """Stored rows (every column) in offset order, in pages."""
        last = -1
        while True:
            rows = self.execute(
                f"SELECT {', '.join(COLUMNS)} FROM audit_entries "  # noqa: S608
                f"WHERE kafka_offset > ?{where} ORDER BY kafka_offset LIMIT ?",
                (last, *params, batch),
            ).fetchall()
            if not rows:
                return
            for row in rows:
                yield dict(zip(COLUMNS, row, strict=True))
            last = int(rows[-1][0])

    def scan(self) -> Iterator[tuple[dict[str, Any], Tampered | None]]:
        """Every row as derived from its bytes, with a Tampered if its stored columns differ."""
        index = 0
        for stored in self._stored_rows():
            derived, bad = disagreeing(stored)
            checkpoint = derived["ce_type"] == CHECKPOINT_TYPE
            tampered = None
            if bad:
                tampered = Tampered(
                    int(derived["kafka_offset"]),
                    bad,
                    None if checkpoint else index,
                    derived["record_id"],
                )
            if not checkpoint:
                index += 1
            yield derived, tampered

    def column_faults(self) -> list[Tampered]:
        """Every row whose stored columns disagree with its record bytes, in offset order."""
        return [t for _, t in self.scan() if t is not None]

    def _tampered(self, stored: Mapping[str, Any], bad: tuple[str, ...]) -> Tampered:
        offset = int(stored["kafka_offset"])
        derived = derive(offset, str(stored["ce_type"]), bytes(stored["value"]))
        if derived["ce_type"] == CHECKPOINT_TYPE:
            return Tampered(offset, bad)
        before = self.execute(
            "SELECT COUNT(*) FROM audit_entries WHERE ce_type <> ? AND kafka_offset < ?",
            (CHECKPOINT_TYPE, offset),
        ).fetchone()[0]
        return Tampered(offset, bad, int(before), derived["record_id"])

    def _checked(self, sql: str, params: Sequence[Any]) -> Rows:
        """Rows the column filter ``sql`` selects, each checked against its bytes."""
        docs, tampered = [], []
        for row in self.execute(sql, params).fetchall():
            stored = dict(zip(COLUMNS, row, strict=True))
            _, bad = disagreeing(stored)
            if bad:
                tampered.append(self._tampered(stored, bad))
            else:
                docs.append(_document(stored["kafka_offset"], stored["value"]))
        return Rows(docs, tampered)

    def add(self, entries: Iterable[Entry]) -> int:
        """Insert messages not stored yet (by offset) and commit; return how many were new."""
        rows = [(*row_of(e), headers_text(e.headers)) for e in entries]
        if not rows:
            return 0
        before = self.count()
        columns = (*COLUMNS, "headers")
        marks = ", ".join("?" * len(columns))
        sql = self._sql(
            f"INSERT INTO audit_entries ({', '.join(columns)}) VALUES ({marks}) "  # noqa: S608
            "ON CONFLICT (kafka_offset) DO NOTHING"
        )
        self.conn.cursor().executemany(sql, rows)
        self.conn.commit()
        return self.count() - before

    def checkpoints(self) -> list[Checkpoint]:
        """The checkpoints the store holds (those that parse), oldest first."""
        out = []
        for (value,) in self.execute(
            "SELECT value FROM audit_entries WHERE ce_type = ? ORDER BY kafka_offset",
            (CHECKPOINT_TYPE,),
        ).fetchall():
            try:
                out.append(Checkpoint.from_json(bytes(value)))
            except AuditError:
                continue
        return out

    # --- questions auditors ask --------------------------------------------------------------

    def query(self, f: Filters) -> Rows:
        """Audit events matching every given filter, oldest first, as their JSON documents.

        The filters select on the index columns; every selected row is then derived again from
        its bytes, and one whose columns disagree is in ``.tampered``, not among the results."""
        if f.limit is not None and f.limit < 1:
            raise ValueError("limit: must be at least 1")
        where, params = ["ce_type <> ?"], [CHECKPOINT_TYPE]
        for column, value in (
            ("recipient", f.recipient),
            ("legal_basis", f.legal_basis),
            ("notice_id", f.notice_id),
            ("policy_version", f.policy_version),
            ("subject_ref", f.subject_ref),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if f.decision is not None:
            if f.decision in ("deliver", "deny"):
                where.append("outcome = ?")
            else:
                where.append("event = ?")
            params.append(f.decision)
        if f.since is not None:
            where.append("recorded_at >= ?")
            params.append(_stamp(f.since) or "")
        if f.until is not None:
            where.append("recorded_at < ?")
            params.append(_stamp(f.until) or "")
        sql = (
            f"SELECT {', '.join(COLUMNS)} FROM audit_entries WHERE "  # noqa: S608
            + " AND ".join(where)
            + " ORDER BY kafka_offset"
            + (f" LIMIT {int(f.limit)}" if f.limit else "")
        )
        return self._checked(sql, params)

    def record(self, record_id: str) -> dict[str, Any] | None:
        """The first record with this id; StoreTampered if its row disagrees with its bytes."""
        rows = self._checked(
            f"SELECT {', '.join(COLUMNS)} FROM audit_entries WHERE record_id = ? "  # noqa: S608
            "AND ce_type <> ? ORDER BY kafka_offset LIMIT 1",
            (record_id, CHECKPOINT_TYPE),
        )
        if rows.tampered:
            raise StoreTampered(rows.tampered)
        return rows[0] if rows else None

    def _derived(self) -> Iterator[dict[str, Any]]:
        """Every audit event's columns as derived from its bytes (a scan; checkpoints left out)."""
        for row, _ in self.scan():
            if row["ce_type"] != CHECKPOINT_TYPE:
                yield row

    def pending_reviews(self) -> list[dict[str, Any]]:
        """Urgent disclosures (review_required) that no review event refers to yet."""
        urgent, reviewed = [], set()
        for row in self._derived():
            if row["review_required"]:
                urgent.append(row)
            if row["event"] == "review" and row["reviewed_record"] is not None:
                reviewed.add(row["reviewed_record"])
        seen: set[str] = set()
        out = []
        for row in urgent:  # at-least-once delivery can repeat a record: list it once
            if row["record_id"] in reviewed:
                continue
            doc = _document(row["kafka_offset"], row["value"])
            if doc.get("record_id") not in seen:
                seen.add(str(doc.get("record_id")))
                out.append(doc)
        return out

    def access_log(self, recipient: str | None = None) -> list[Access]:
        """Every delivery with when it was received and opened (receipts relayed to the log)."""
        delivered: dict[tuple[str, str], str] = {}
        receipts: dict[tuple[str, str, str], str] = {}
        for row in self._derived():
            rcpt, did, at = row["recipient"], row["delivery_id"], row["recorded_at"]
            if did is None or rcpt is None or at is None:
                continue
            if recipient is not None and rcpt != recipient:
                continue
            if row["outcome"] == "deliver":
                key = (did, rcpt)
                delivered[key] = min(delivered.get(key, at), at)
            elif row["event"] in ("received", "opened"):
                rkey = (row["event"], did, rcpt)
                receipts[rkey] = min(receipts.get(rkey, at), at)
        out = []
        for (did, rcpt), at in sorted(delivered.items(), key=lambda kv: (kv[1], kv[0][0])):
            received = receipts.get(("received", did, rcpt))
            opened = receipts.get(("opened", did, rcpt))
            # an opened delivery was received, even if that receipt was lost
            first = min((t for t in (received, opened) if t is not None), default=None)
            out.append(Access(did, rcpt, at, first, opened))
        return out

    def disclosures_by_day(self) -> list[tuple[str, str, str, int]]:
        """(day, recipient, legal basis, deliveries) for the chart, oldest day first."""
        counts: dict[tuple[str, str, str], int] = {}
        for row in self._derived():
            if row["outcome"] == "deliver":
                day = str(row["recorded_at"])[:10] if row["recorded_at"] else "None"
                key = (day, str(row["recipient"]), str(row["legal_basis"]))
                counts[key] = counts.get(key, 0) + 1
        return [(d, r, b, n) for (d, r, b), n in sorted(counts.items())]

    def stats(self) -> dict[str, Any]:
        """Counts for the overview: by event, by recipient and decision, by legal basis.

        Computed from the record bytes (a scan), never from the index columns; ``tampered``
        lists the rows whose columns disagree with their bytes."""
        entries = 0
        by_event: dict[Any, int] = {}
        by_recipient: dict[tuple[Any, Any], int] = {}
        by_basis: dict[Any, int] = {}
        times: list[str] = []
        tampered: list[Tampered] = []
        for row, bad in self.scan():
            entries += 1
            if bad is not None:
                tampered.append(bad)
            name = row["event"] if row["event"] is not None else row["ce_type"]
            by_event[name] = by_event.get(name, 0) + 1
            if row["event"] == "decision":
                k = (row["recipient"], row["outcome"])
                by_recipient[k] = by_recipient.get(k, 0) + 1
            if row["outcome"] == "deliver":
                by_basis[row["legal_basis"]] = by_basis.get(row["legal_basis"], 0) + 1
            if row["recorded_at"] is not None:
                times.append(row["recorded_at"])
        return {
            "entries": entries,
            "by_event": sorted(by_event.items(), key=lambda kv: _key(kv[0])),
            "by_recipient": [
                (r, o, n)
                for (r, o), n in sorted(
                    by_recipient.items(), key=lambda kv: (_key(kv[0][0]), _key(kv[0][1]))
                )
            ],
            "by_legal_basis": sorted(by_basis.items(), key=lambda kv: _key(kv[0])),
            "first": min(times, default=None),
            "last": max(times, default=None),
            "pending_reviews": len(self.pending_reviews()),
            "tampered": tampered,
        }


def _document(offset: Any, value: Any) -> dict[str, Any]:
    try:
        data = json.loads(bytes(value))
    except (ValueError, UnicodeDecodeError):
        data = {"event": "unreadable"}
    if not isinstance(data, dict):
        data = {"event": "unreadable"}
    data["_offset"] = int(offset)
    return data


def _private_file(path: Path) -> None:
    """Create the SQLite file 0600 (its folder 0700) before SQLite opens it; tighten an old one.
    SQLite creates its -wal, -shm and -journal files with the database file's permissions."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
        os.chmod(path.parent, 0o700)  # mkdir's mode is subject to the umask
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    for suffix in ("-wal", "-shm", "-journal"):
        side = path.with_name(path.name + suffix)
        if side.exists() and side.stat().st_mode & 0o077:
            os.chmod(side, 0o600)


def _redact_url(url: str) -> str:
    """A database URL fit for messages: the password is left out."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        creds, _, host = rest.rpartition("@")
        user = creds.split(":", 1)[0]
        return f"{scheme}{sep}{user}@{host}"
    return url


class Syncer:
    """Verify what the store holds, then verify and write new messages batch by batch."""

    def __init__(
        self,
        store: AuditStore,
        trusted: Mapping[str, Ed25519PublicKey],
        origin: str,
        witness: Iterable[Checkpoint] = (),
    ) -> None:
        self.store = store
        self.verifier = Verifier(trusted, origin, witness, allow_unsealed=True)  # a live topic
        self.written = 0

    def check_stored(self) -> Fault | None:
        """Re-verify every stored message (the store may have been edited since the last sync)."""
        for entry in self.store.entries():
            fault = self.verifier.add(entry)
            if fault:
                return fault
        return None

    def add(self, batch: Sequence[Entry]) -> Fault | None:
        """Verify ``batch`` (next in topic order) and write it; at a fault write nothing more."""
        good: list[Entry] = []
        fault = None
        for entry in batch:
            fault = self.verifier.add(entry)
            if fault:
                break
            good.append(entry)
        self.written += self.store.add(good)
        return fault

    def finish(self) -> Report:
        return self.verifier.finish()
