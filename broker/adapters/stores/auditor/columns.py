"""The auditor store's table, and its index columns derived again from a message's bytes.

One table holds every message of the audit topic by offset, its value byte for byte (so the
Merkle leaves can be recomputed and checked) and a few columns extracted for queries. The
extracted columns are only an index: ``disagreeing`` derives a stored row's columns again from
its bytes and names those that differ, and a row that has any is a ``Tampered`` (names, never
values). Pure: no database here.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from broker.core.audit.checkpoint import Checkpoint
from broker.core.audit.errors import NotAnAuditMessage
from broker.core.audit.events import Entry, record_id_of
from broker.core.audit.messages import (
    AuditMessage,
    Informed,
    InformException,
    OrganisationRetired,
    ReceiptRecord,
    ReviewRecord,
    read_audit_message,
)
from broker.core.records import AuditRecord
from broker.core.times import utc_z

TABLES = """
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
    organisation     TEXT,
    outcome          TEXT,
    rule_id          TEXT,
    legal_basis      TEXT,
    policy_version   TEXT,
    subject_ref      TEXT,
    review_required  BOOLEAN NOT NULL DEFAULT FALSE,
    reviewed_record  TEXT,  -- the record a review or an inform event refers to
    delivery_id      TEXT,
    tree_size        BIGINT,
    headers          TEXT
);
CREATE TABLE IF NOT EXISTS audit_meta (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
"""
# after the tables, and after an old store has gained the columns they index (store._create)
INDEXES = """
CREATE INDEX IF NOT EXISTS audit_entries_subject ON audit_entries (subject_ref);
CREATE INDEX IF NOT EXISTS audit_entries_recipient ON audit_entries (recipient, recorded_at);
CREATE INDEX IF NOT EXISTS audit_entries_organisation ON audit_entries (organisation, recorded_at);
CREATE INDEX IF NOT EXISTS audit_entries_notice ON audit_entries (notice_id);
CREATE INDEX IF NOT EXISTS audit_entries_record ON audit_entries (record_id);
CREATE INDEX IF NOT EXISTS audit_entries_delivery ON audit_entries (delivery_id);
"""
SCHEMA = TABLES + INDEXES

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
    "organisation",
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


def stamp(t: datetime) -> str | None:
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
        "recorded_at": stamp(message.recorded_at),
    }
    if isinstance(message, AuditRecord):
        return {
            **common,
            "notice_id": message.notice_id,
            "notice_type": message.notice_type,
            "recipient": message.recipient,
            "organisation": message.organisation,
            "outcome": str(message.outcome) if message.outcome is not None else None,
            "rule_id": message.rule_id,
            "legal_basis": message.legal_basis.id if message.legal_basis is not None else None,
            "policy_version": message.policy_version,
            "subject_ref": message.subject_ref,
            "review_required": message.review_required,
            "delivery_id": message.delivery_id,
        }
    if isinstance(message, ReviewRecord | Informed | InformException):
        return {**common, "reviewed_record": _refers_to(message)}
    if isinstance(message, OrganisationRetired):  # found by the organisation it retired
        return {**common, "recipient": message.kind, "organisation": message.organisation}
    whose = {"recipient": message.recipient, "organisation": message.organisation}
    if isinstance(message, ReceiptRecord):
        return {**common, **whose, "delivery_id": message.delivery_id}
    return {**common, **whose}


def _refers_to(message: ReviewRecord | Informed | InformException) -> str:
    """The record a review reviews, or whose duty an inform event closes."""
    if isinstance(message, ReviewRecord):
        return message.reviewed_record_id
    return message.decision_record_id


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


def document(offset: Any, value: Any) -> dict[str, Any]:
    """A stored record as its JSON document, with its offset (unreadable bytes say so)."""
    try:
        data = json.loads(bytes(value))
    except (ValueError, UnicodeDecodeError):
        data = {"event": "unreadable"}
    if not isinstance(data, dict):
        data = {"event": "unreadable"}
    data["_offset"] = int(offset)
    return data


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
