"""Every kind of message on the audit topic as a model, and the one reader that returns them.

Writers build these messages in several places (the pipeline's audit records, the sealer's
checkpoints, the reviewer's reviews, the relay's receipts, the directory administrator's
retirements, the reviewer's inform events); everything that reads one back, the
auditor store, the fault drill, the commands, reads it here, as a type: no byte search, no dict
poking. A message is a checkpoint by its CloudEvents type (as the Merkle log counts leaves) and
any other kind by the ``event`` its value names (as ``writers.ENTITLED`` does). Whether its
writer was entitled to write it, and under that type, is ``writers.check``'s question, not the
reader's.
"""

from __future__ import annotations

import json
import types
from datetime import date, datetime
from typing import Any, Final, Literal, Union, get_args, get_origin

from pydantic import Field, ValidationError

from broker.core.audit.access import State
from broker.core.audit.checkpoint import Checkpoint
from broker.core.audit.errors import AuditError, NotAnAuditMessage
from broker.core.audit.events import CHECKPOINT_TYPE
from broker.core.notice_parts import Strict
from broker.core.records import AuditEvent, AuditRecord

__all__ = [
    "EVENTS",
    "AuditMessage",
    "InformException",
    "Informed",
    "OrganisationRetired",
    "ReceiptRecord",
    "ReceiptRejected",
    "ReviewRecord",
    "read_audit_message",
    "read_stored_record",
]


class ReviewRecord(Strict):
    """A reviewer's review of an urgent disclosure (``broker audit review``)."""

    record_id: str
    event: Literal["review"]
    recorded_at: datetime
    reviewed_record_id: str
    reviewer: str
    note: str


class _DutyClosed(Strict):
    """What closes a duty to inform (``broker audit inform``): the decision record whose duty it
    closes, the duty and the persons it concerns."""

    record_id: str
    recorded_at: datetime
    decision_record_id: str = Field(description="the decision record whose duty it closes")
    duty: str
    persons: list[str] = Field(min_length=1)


class Informed(_DutyClosed):
    """The child or the guardians told of a disclosure (``broker audit inform``)."""

    event: Literal["informed"]
    how: str
    informed_at: datetime


class InformException(_DutyClosed):
    """An exception to the duty to inform that applies, by its code (``broker audit inform``)."""

    event: Literal["inform-exception"]
    exception: str


class ReceiptRecord(Strict):
    """An organisation's receipt for a delivery, relayed into the log (broker.core.audit.access):
    ``recipient`` is the role the organisation fills, as in decisions' audit records."""

    record_id: str
    event: State
    recorded_at: datetime
    receipt_at: datetime
    delivery_id: str
    recipient: str
    source: str
    # None: relayed before receipts named their organisation; ``recipient`` then holds the
    # organisation's id (from 4d77c84 on) or, before that, the role
    organisation: str | None = Field(
        default=None, description="the organisation (directory id) whose receipts topic it is"
    )


class ReceiptRejected(Strict):
    """A receipt the relay could not read: whose topic it came from, where and why, by hash."""

    record_id: str
    event: Literal["receipt-rejected"]
    recorded_at: datetime
    recipient: str
    source: str
    reasons: list[str]
    input_sha256: str
    organisation: str | None = Field(
        default=None, description="the organisation (directory id) whose receipts topic it is"
    )


class OrganisationRetired(Strict):
    """An organisation retired from the directory (``broker directory retire``): its copies
    never opened, by delivery id, and the directory and policy versions that followed."""

    record_id: str
    event: Literal["organisation-retired"]
    recorded_at: datetime
    organisation: str
    kind: str
    retired_on: date
    reason: str
    successor: str | None
    directory_version: str
    policy_version: str
    unread: list[str]
    unreceived: list[str]


Record = (
    AuditRecord
    | ReviewRecord
    | Informed
    | InformException
    | ReceiptRecord
    | ReceiptRejected
    | OrganisationRetired
)
AuditMessage = Record | Checkpoint

# the model of each kind of record, by the ``event`` its value names
_BY_EVENT: Final[dict[str, type[Record]]] = {
    **{str(e): AuditRecord for e in AuditEvent},
    "review": ReviewRecord,
    "informed": Informed,
    "inform-exception": InformException,
    **{str(s): ReceiptRecord for s in State},
    "receipt-rejected": ReceiptRejected,
    "organisation-retired": OrganisationRetired,
}
EVENTS: Final = frozenset(_BY_EVENT)


def read_audit_message(ce_type: str, value: bytes) -> AuditMessage:
    """The audit-topic message of CloudEvents type ``ce_type`` and ``value`` as its model, or
    NotAnAuditMessage naming what is wrong (field names and error kinds, never values)."""
    if ce_type == CHECKPOINT_TYPE:
        try:
            return Checkpoint.from_json(value)
        except AuditError as exc:
            raise NotAnAuditMessage(str(exc)) from None
    try:
        data = json.loads(value)
    except (ValueError, UnicodeDecodeError):
        raise NotAnAuditMessage("not JSON") from None
    if not isinstance(data, dict):
        raise NotAnAuditMessage("not a JSON object")
    return _record(data)


def read_stored_record(document: dict[str, Any]) -> Record:
    """A record as the auditor store returns it (its value's JSON object, with the store's own
    ``_``-prefixed keys such as ``_offset``) as its model, or NotAnAuditMessage."""
    return _record({k: v for k, v in document.items() if not k.startswith("_")})


def _record(data: dict[str, Any]) -> Record:
    event = data.get("event")
    model = _BY_EVENT.get(event) if isinstance(event, str) else None
    if model is None:
        raise NotAnAuditMessage("its event is not a kind of audit record")
    try:
        return model.model_validate(_absent_as_none(model, data))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['type']}" for e in exc.errors()
        )
        raise NotAnAuditMessage(f"not a {event} record: {problems}") from None


def _absent_as_none(model: type[Record], data: dict[str, Any]) -> dict[str, Any]:
    """Writers leave out fields that are None (``envelope.encode`` dumps with exclude_none), so
    a field that must be given but may be None reads as None when it is absent."""
    nullable = {
        name: None
        for name, f in model.model_fields.items()
        if f.is_required() and _allows_none(f.annotation)
    }
    return {**nullable, **data}


def _allows_none(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, types.UnionType) and type(None) in get_args(annotation)
