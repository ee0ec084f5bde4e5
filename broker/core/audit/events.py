"""What travels on the audit topic: audit events (the log's leaves) and checkpoints (not leaves).

Every message on the audit topic whose CloudEvents type is not the checkpoint type is a leaf,
in topic order. The leaf's data is the Kafka record value exactly as stored: verification then
depends on no JSON library and no producer's formatting. Producers write RFC 8785 canonical JSON
(``canonical``), so that the bytes are also the canonical form of the record.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import rfc8785
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from broker.core.crypto import refs
from broker.core.times import utc_z

RECORD_TYPE = "no.oslo.broker.audit-record.v1"
CHECKPOINT_TYPE = "no.oslo.broker.audit-checkpoint.v1"
REVIEW_TYPE = "no.oslo.broker.audit-review.v1"
OBLIGATION_TYPE = "no.oslo.broker.audit-obligation.v1"  # informed, inform-exception (inform.py)
DIRECTORY_TYPE = "no.oslo.broker.audit-directory.v1"  # a change of the organisations directory
SOURCE = "/broker/audit"
MAX_EVENT_BYTES = 900_000  # under the topics' 1 MB message limit, with room for the headers

Headers = tuple[tuple[str, bytes], ...]


@dataclass(frozen=True)
class Entry:
    """One message of the audit topic: where it is, what type it says it is, its value bytes and
    its headers (they carry the writer's signature; None: the source did not keep them)."""

    offset: int
    ce_type: str
    value: bytes
    headers: Headers | None = None

    @property
    def is_checkpoint(self) -> bool:
        return self.ce_type == CHECKPOINT_TYPE


def canonical(data: Any) -> bytes:
    """RFC 8785 (JSON Canonicalization Scheme) bytes of a JSON-compatible value."""
    return rfc8785.dumps(data)


def record_id_of(value: bytes) -> str | None:
    """The record id in an audit event's value, if it is readable (for naming, not trusting)."""
    try:
        data = json.loads(value)
    except (ValueError, UnicodeDecodeError):
        return None
    rid = data.get("record_id") if isinstance(data, dict) else None
    return rid if isinstance(rid, str) else None


def ce_headers(event_type: str, event_id: str, time: datetime) -> Headers:
    """CloudEvents Kafka binary-mode headers (the value is written separately)."""
    event = CloudEvent(
        attributes={
            "type": event_type,
            "source": SOURCE,
            "id": event_id,
            "time": time,
            "datacontenttype": "application/json",
        },
        data=None,
    )
    message = ce_kafka.to_binary(event, JSONFormat())
    return tuple((k, v) for k, v in message.headers.items())


def review_event(
    reviewed_record_id: str, reviewer: str, note: str, when: datetime
) -> tuple[str, bytes]:
    """(event id, canonical value) of a review of an urgent disclosure: itself an audit event."""
    if when.tzinfo is None:
        raise ValueError("review time must carry a time zone")
    for name, value, limit in (("reviewer", reviewer, 200), ("note", note, 4000)):
        if not value.strip() or len(value) > limit:
            raise ValueError(f"{name}: must be 1 to {limit} characters")
    stamp = utc_z(when)
    rid = refs.stable_id("review", reviewed_record_id, reviewer, stamp)
    data = {
        "record_id": rid,
        "event": "review",
        "recorded_at": stamp,
        "reviewed_record_id": reviewed_record_id,
        "reviewer": reviewer.strip(),
        "note": note.strip(),
    }
    return rid, canonical(data)


@dataclass(frozen=True)
class Retirement:
    """An organisation retired from the directory, as its audit event records it: ids, dates
    and versions, and the operator's reason (no personal data)."""

    organisation: str
    kind: str
    retired_on: date
    reason: str
    successor: str | None
    directory_version: str  # the directory's version with the retirement
    policy_version: str  # the policy version every later decision names
    unread: tuple[str, ...]  # its deliveries never opened (ids only)
    unreceived: tuple[str, ...]  # of those, the ones never even received


def retirement_event(retirement: Retirement, when: datetime) -> tuple[str, bytes]:
    """(event id, canonical value) of an organisation's retirement: itself an audit event. The
    id is the same for the same retirement of the same directory, so a repeat is recognised."""
    if when.tzinfo is None:
        raise ValueError("retirement time must carry a time zone")
    r = retirement
    if not r.reason.strip() or len(r.reason) > 500:
        raise ValueError("reason: must be 1 to 500 characters")
    rid = refs.stable_id(
        "organisation-retired", r.organisation, r.retired_on.isoformat(), r.directory_version
    )
    data: dict[str, Any] = {
        "record_id": rid,
        "event": "organisation-retired",
        "recorded_at": utc_z(when),
        "organisation": r.organisation,
        "kind": r.kind,
        "retired_on": r.retired_on.isoformat(),
        "reason": r.reason.strip(),
        "directory_version": r.directory_version,
        "policy_version": r.policy_version,
        "unread": _ids(r.unread),
        "unreceived": _ids(r.unreceived),
    }
    if r.successor is not None:
        data["successor"] = r.successor
    value = canonical(data)
    if len(value) > MAX_EVENT_BYTES:  # tens of thousands of unread copies: split by hand
        raise ValueError(f"unread: {len(r.unread)} delivery ids do not fit in one audit event")
    return rid, value


def _ids(ids: Iterable[str]) -> list[str]:
    return sorted(set(ids))
