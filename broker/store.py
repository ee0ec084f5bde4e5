"""The auditor store: the audit topic materialised into SQL, for queries and offline checks.

SQLite by default (a file, no set-up; the standard library's sqlite3) or PostgreSQL given a
``postgresql://`` URL (psycopg 3). One table holds every message of the audit topic by offset,
its value byte for byte (so the Merkle leaves can be recomputed and checked) and a few columns
extracted for queries. The store is never trusted: ``entries()`` feeds the verifier, which
recomputes every leaf from the stored bytes, and the checkpoints are checked against a witness.

``Syncer`` does what ``broker audit sync`` needs without any Kafka: re-verify what the store
holds, then take new messages in batches, verifying each before it is written.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from broker.audit.access import Access
from broker.audit.checkpoint import Checkpoint
from broker.audit.errors import AuditError
from broker.audit.events import CHECKPOINT_TYPE, Entry
from broker.audit.verify import Fault, Report, Verifier

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
    tree_size        BIGINT
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


def _utc(text: object) -> str | None:
    """Times as UTC ISO 8601 with a Z, so that text order is time order in both databases."""
    if not isinstance(text, str):
        return None
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if t.tzinfo is None:
        return None
    return t.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def row_of(entry: Entry) -> tuple[Any, ...]:
    """The row for one audit-topic message: its bytes, and columns for queries (best effort)."""
    if entry.is_checkpoint:
        try:
            size: int | None = Checkpoint.from_json(entry.value).tree_size
        except AuditError:
            size = None
        return (entry.offset, entry.ce_type, entry.value, *([None] * 11), False, None, None, size)
    try:
        data = json.loads(entry.value)
    except (ValueError, UnicodeDecodeError):
        data = {}
    if not isinstance(data, dict):
        data = {}

    def text(name: str) -> str | None:
        v = data.get(name)
        return v if isinstance(v, str) else None

    basis = data.get("legal_basis")
    return (
        entry.offset,
        entry.ce_type,
        entry.value,
        text("record_id"),
        text("event"),
        _utc(data.get("recorded_at")),
        text("notice_id"),
        text("notice_type"),
        text("recipient"),
        text("outcome"),
        text("rule_id"),
        basis.get("id") if isinstance(basis, dict) and isinstance(basis.get("id"), str) else None,
        text("policy_version"),
        text("subject_ref"),
        data.get("review_required") is True,
        text("reviewed_record_id"),
        text("delivery_id"),
        None,
    )


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
            path.parent.mkdir(parents=True, exist_ok=True)
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
                "SELECT kafka_offset, ce_type, value FROM audit_entries "
                "WHERE kafka_offset > ? ORDER BY kafka_offset LIMIT ?",
                (last, batch),
            ).fetchall()
            if not rows:
                return
            for offset, ce_type, value in rows:
                yield Entry(int(offset), str(ce_type), bytes(value))
            last = int(rows[-1][0])

    def add(self, entries: Iterable[Entry]) -> int:
        """Insert messages not stored yet (by offset) and commit; return how many were new."""
        rows = [row_of(e) for e in entries]
        if not rows:
            return 0
        before = self.count()
        marks = ", ".join("?" * len(COLUMNS))
        sql = self._sql(
            f"INSERT INTO audit_entries ({', '.join(COLUMNS)}) VALUES ({marks}) "  # noqa: S608
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

    def query(self, f: Filters) -> list[dict[str, Any]]:
        """Audit events matching every given filter, oldest first, as their JSON documents."""
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
            params.append(_utc(f.since.isoformat()) or "")
        if f.until is not None:
            where.append("recorded_at < ?")
            params.append(_utc(f.until.isoformat()) or "")
        sql = (
            "SELECT kafka_offset, value FROM audit_entries WHERE "  # noqa: S608
            + " AND ".join(where)
            + " ORDER BY kafka_offset"
            + (f" LIMIT {int(f.limit)}" if f.limit else "")
        )
        return [_document(o, v) for o, v in self.execute(sql, params).fetchall()]

    def record(self, record_id: str) -> dict[str, Any] | None:
        row = self.execute(
            "SELECT kafka_offset, value FROM audit_entries WHERE record_id = ? "
            "AND ce_type <> ? ORDER BY kafka_offset LIMIT 1",
            (record_id, CHECKPOINT_TYPE),
        ).fetchone()
        return None if row is None else _document(row[0], row[1])

    def pending_reviews(self) -> list[dict[str, Any]]:
        """Urgent disclosures (review_required) that no review event refers to yet."""
        rows = self.execute(
            "SELECT kafka_offset, value FROM audit_entries a WHERE review_required "
            "AND NOT EXISTS (SELECT 1 FROM audit_entries r WHERE r.event = 'review' "
            "AND r.reviewed_record = a.record_id) ORDER BY kafka_offset"
        ).fetchall()
        seen: set[str] = set()
        out = []
        for o, v in rows:  # at-least-once delivery can repeat a record: list it once
            doc = _document(o, v)
            if doc.get("record_id") not in seen:
                seen.add(str(doc.get("record_id")))
                out.append(doc)
        return out

    def access_log(self, recipient: str | None = None) -> list[Access]:
        """Every delivery with when it was received and opened (receipts relayed to the log)."""
        where, params = "", []
        if recipient is not None:
            where, params = " AND d.recipient = ?", [recipient]
        rows = self.execute(
            "SELECT d.delivery_id, d.recipient, MIN(d.recorded_at), "  # noqa: S608
            "(SELECT MIN(r.recorded_at) FROM audit_entries r WHERE r.event = 'received' "
            "AND r.delivery_id = d.delivery_id AND r.recipient = d.recipient), "
            "(SELECT MIN(r.recorded_at) FROM audit_entries r WHERE r.event = 'opened' "
            "AND r.delivery_id = d.delivery_id AND r.recipient = d.recipient) "
            "FROM audit_entries d WHERE d.outcome = 'deliver' AND d.delivery_id IS NOT NULL"
            + where
            + " GROUP BY d.delivery_id, d.recipient ORDER BY 3, 1",
            params,
        ).fetchall()
        out = []
        for delivery_id, rcpt, delivered, received, opened in rows:
            # an opened delivery was received, even if that receipt was lost
            first = min((t for t in (received, opened) if t is not None), default=None)
            out.append(Access(str(delivery_id), str(rcpt), str(delivered), first, opened))
        return out

    def disclosures_by_day(self) -> list[tuple[str, str, str, int]]:
        """(day, recipient, legal basis, deliveries) for the chart, oldest day first."""
        rows = self.execute(
            "SELECT substr(recorded_at, 1, 10), recipient, legal_basis, COUNT(*) "
            "FROM audit_entries WHERE outcome = 'deliver' "
            "GROUP BY substr(recorded_at, 1, 10), recipient, legal_basis ORDER BY 1, 2, 3"
        ).fetchall()
        return [(str(d), str(r), str(b), int(n)) for d, r, b, n in rows]

    def stats(self) -> dict[str, Any]:
        """Counts for the overview: by event, by recipient and decision, by legal basis."""

        def rows(sql: str) -> list[tuple[Any, ...]]:
            return [tuple(r) for r in self.execute(sql).fetchall()]

        return {
            "entries": self.count(),
            "by_event": rows(
                "SELECT COALESCE(event, ce_type), COUNT(*) FROM audit_entries "
                "GROUP BY COALESCE(event, ce_type) ORDER BY 1"
            ),
            "by_recipient": rows(
                "SELECT recipient, outcome, COUNT(*) FROM audit_entries "
                "WHERE event = 'decision' GROUP BY recipient, outcome ORDER BY 1, 2"
            ),
            "by_legal_basis": rows(
                "SELECT legal_basis, COUNT(*) FROM audit_entries WHERE outcome = 'deliver' "
                "GROUP BY legal_basis ORDER BY 1"
            ),
            "first": self.execute("SELECT MIN(recorded_at) FROM audit_entries").fetchone()[0],
            "last": self.execute("SELECT MAX(recorded_at) FROM audit_entries").fetchone()[0],
            "pending_reviews": len(self.pending_reviews()),
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
