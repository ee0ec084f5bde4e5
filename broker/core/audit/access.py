"""The access log: delivered → received → opened, for every delivery, in the same audit log.

An organisation's system reports what happened to each delivery on its own receipts topic
(``<prefix>receipts.<organisation id>``, the only broker topic it may write; see
broker.core.deployment.acl). The broker's relay turns each receipt into an audit event on the
audit topic, where it is sealed like every record. The organisation is taken from the topic the
receipt came from (which the ACLs bind to the organisation), never from the message, so one
school cannot report for another; the event names it (``organisation``) and the role it fills
(``recipient``), as decisions' audit records do, so the access log joins the two on the
organisation.

A delivery not received within a configurable time is flagged (``overdue``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from broker.core.audit.errors import AuditError
from broker.core.audit.events import canonical
from broker.core.crypto import refs
from broker.core.directory import Organisation
from broker.core.times import utc_z

RECEIPT_TYPE = "no.oslo.broker.receipt.v1"  # on a recipient's receipts topic
AUDIT_RECEIPT_TYPE = "no.oslo.broker.audit-receipt.v1"  # the relayed copy on the audit topic


class State(StrEnum):
    received = "received"  # the recipient's system has stored the delivery
    opened = "opened"  # a person at the recipient has opened it


def receipt(delivery_id: str, state: State, when: datetime) -> tuple[str, bytes]:
    """(event id, value) a recipient's system publishes on its receipts topic."""
    if not delivery_id or len(delivery_id) > 100:
        raise ValueError("delivery_id: must be 1 to 100 characters")
    rid = refs.stable_id("receipt", delivery_id, str(state))
    return rid, canonical(
        {"delivery_id": delivery_id, "state": str(state), "at": utc_z(when), "receipt_id": rid}
    )


def audit_event(
    value: bytes, organisation: Organisation, source: str, now: datetime
) -> tuple[str, bytes]:
    """The audit event for a receipt read from ``organisation``'s receipts topic at ``source``.

    Raise AuditError naming the field if the receipt is not one. The record id is deterministic
    per (organisation, delivery, state): relaying the same receipt twice gives the same id.
    """
    try:
        data = json.loads(value)
    except (ValueError, UnicodeDecodeError):
        raise AuditError("receipt: not JSON") from None
    if not isinstance(data, dict):
        raise AuditError("receipt: not a JSON object")
    delivery_id, state, at = data.get("delivery_id"), data.get("state"), data.get("at")
    if not isinstance(delivery_id, str) or not 0 < len(delivery_id) <= 100:
        raise AuditError("receipt: delivery_id must be a string of 1 to 100 characters")
    if state not in {s.value for s in State}:
        raise AuditError("receipt: state must be 'received' or 'opened'")
    try:
        claimed = datetime.fromisoformat(str(at))
    except ValueError:
        raise AuditError("receipt: at must be an ISO 8601 time") from None
    if claimed.tzinfo is None:
        raise AuditError("receipt: at must carry a time zone")
    rid = refs.stable_id("receipt", organisation.kind, organisation.id, delivery_id, str(state))
    return rid, canonical(
        {
            "record_id": rid,
            "event": str(state),
            "recorded_at": utc_z(now),
            "receipt_at": utc_z(claimed),
            "delivery_id": delivery_id,
            "recipient": organisation.kind,
            "organisation": organisation.id,
            "source": source,
        }
    )


@dataclass(frozen=True)
class Access:
    """One delivery's path: when delivered, received and opened (None: not yet).
    ``organisation`` is None only for a delivery recorded before decisions named one."""

    delivery_id: str
    recipient: str
    organisation: str | None
    delivered_at: str
    received_at: str | None
    opened_at: str | None

    def overdue(self, now: datetime, within: timedelta) -> bool:
        """Not received within ``within`` of being delivered."""
        if self.received_at is not None:
            return False
        delivered = datetime.fromisoformat(self.delivered_at)
        return now - delivered > within


def overdue(accesses: Iterable[Access], now: datetime, within: timedelta) -> list[Access]:
    return [a for a in accesses if a.overdue(now, within)]
