"""What auditors ask of the whole log, computed from rows derived from the record bytes.

The review list, the access log, the chart and the statistics are computed from a scan of
rows as their bytes say they are (``AuditStore.scan``), never from the stored index columns.
Pure: the store hands the rows in.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from broker.adapters.stores.auditor.columns import Tampered, document
from broker.core.audit.access import Access


def _key(value: Any) -> tuple[bool, str]:
    """Sort key for values that may be None (None last, like PostgreSQL)."""
    return (value is None, "" if value is None else str(value))


def pending_reviews(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Urgent disclosures (review_required) that no review event refers to yet."""
    urgent, reviewed = [], set()
    for row in rows:
        if row["review_required"]:
            urgent.append(row)
        if row["event"] == "review" and row["reviewed_record"] is not None:
            reviewed.add(row["reviewed_record"])
    seen: set[str] = set()
    out = []
    for row in urgent:  # at-least-once delivery can repeat a record: list it once
        if row["record_id"] in reviewed:
            continue
        doc = document(row["kafka_offset"], row["value"])
        if doc.get("record_id") not in seen:
            seen.add(str(doc.get("record_id")))
            out.append(doc)
    return out


OBLIGATION_EVENTS = frozenset({"informed", "inform-exception"})


def obligation_sources(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The documents obligations are computed from (broker.core.audit.obligations): decisions
    that open a duty or answer a concern report, and the inform events that close duties."""
    out = []
    for row in rows:
        if row["event"] in OBLIGATION_EVENTS:
            out.append(document(row["kafka_offset"], row["value"]))
        elif row["event"] == "decision" and (
            row["outcome"] == "deliver" or row["notice_type"] == "concern-feedback"
        ):
            doc = document(row["kafka_offset"], row["value"])
            if doc.get("duties") or doc.get("answers"):
                out.append(doc)
    return out


def _whose(row: dict[str, Any]) -> str | None:
    """What joins a delivery to its receipts: the organisation. A record from before records
    named one has only its recipient (a receipt's held the organisation's id from 4d77c84 on,
    a decision's and every earlier receipt's the role), so old deliveries still find theirs."""
    organisation = row["organisation"]
    return str(organisation) if organisation is not None else row["recipient"]


def access_log(
    rows: Iterable[dict[str, Any]], recipient: str | None = None, organisation: str | None = None
) -> list[Access]:
    """Every delivery with when it was received and opened (receipts relayed to the log), of
    ``recipient`` (a role) and ``organisation`` if given.

    A receipt counts only for a delivery of the organisation whose receipts topic it came from:
    one school's receipt for another school's delivery id marks nothing received."""
    delivered: dict[tuple[str, str], tuple[str, str, str | None]] = {}  # -> first, role, org
    receipts: dict[tuple[str, str, str], str] = {}
    for row in rows:
        did, whose, at = row["delivery_id"], _whose(row), row["recorded_at"]
        if did is None or whose is None or at is None:
            continue
        if row["outcome"] == "deliver":
            earlier = delivered.get((did, whose))
            if earlier is None or at < earlier[0]:
                delivered[(did, whose)] = (at, row["recipient"], row["organisation"])
        elif row["event"] in ("received", "opened"):
            rkey = (row["event"], did, whose)
            receipts[rkey] = min(receipts.get(rkey, at), at)
    out = []
    for (did, whose), (at, rcpt, org) in sorted(
        delivered.items(), key=lambda kv: (kv[1][0], kv[0][0])
    ):
        if recipient not in (None, rcpt) or organisation not in (None, org):
            continue
        received = receipts.get(("received", did, whose))
        opened = receipts.get(("opened", did, whose))
        # an opened delivery was received, even if that receipt was lost
        first = min((t for t in (received, opened) if t is not None), default=None)
        out.append(Access(did, rcpt, org, at, first, opened))
    return out


def disclosures_by_day(rows: Iterable[dict[str, Any]]) -> list[tuple[str, str, str, int]]:
    """(day, recipient, legal basis, deliveries) for the chart, oldest day first."""
    counts: dict[tuple[str, str, str], int] = {}
    for row in rows:
        if row["outcome"] == "deliver":
            day = str(row["recorded_at"])[:10] if row["recorded_at"] else "None"
            key = (day, str(row["recipient"]), str(row["legal_basis"]))
            counts[key] = counts.get(key, 0) + 1
    return [(d, r, b, n) for (d, r, b), n in sorted(counts.items())]


def stats(
    scan: Iterable[tuple[dict[str, Any], Tampered | None]], pending_reviews: int
) -> dict[str, Any]:
    """Counts for the overview: by event, by recipient and decision, by legal basis.

    ``scan`` is every row (checkpoints too) with its Tampered if its stored columns differ;
    ``tampered`` lists those rows."""
    entries = 0
    by_event: dict[Any, int] = {}
    by_recipient: dict[tuple[Any, Any], int] = {}
    by_basis: dict[Any, int] = {}
    times: list[str] = []
    tampered: list[Tampered] = []
    for row, bad in scan:
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
        "pending_reviews": pending_reviews,
        "tampered": tampered,
    }
