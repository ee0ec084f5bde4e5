"""The access log: receipts become audit events; deliveries not received in time are flagged."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.adapters.stores.auditor import AuditStore
from broker.core.audit.access import Access, State, audit_event, overdue, receipt
from broker.core.audit.errors import AuditError
from broker.core.audit.events import canonical
from broker.testing import audit as drill

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


def test_a_receipt_becomes_an_audit_event_for_the_topics_recipient() -> None:
    """The recipient comes from the receipts topic, not from the message."""
    _, value = receipt("d-1", State.opened, NOW - timedelta(minutes=5))
    forged = json.loads(value) | {"recipient": "police"}
    _, event = audit_event(canonical(forged), "school", "receipts.school/0/7", NOW)
    data = json.loads(event)
    assert (data["event"], data["recipient"], data["delivery_id"]) == ("opened", "school", "d-1")
    assert data["receipt_at"] == "2026-11-26T11:55:00.000000Z"
    assert data["recorded_at"] == "2026-11-26T12:00:00.000000Z"
    assert data["source"] == "receipts.school/0/7"


def test_the_same_receipt_relayed_twice_has_one_record_id() -> None:
    """At-least-once relaying: a repeat is recognisable as the same event."""
    _, value = receipt("d-1", State.received, NOW)
    first, _ = audit_event(value, "school", "s/0/1", NOW)
    again, _ = audit_event(value, "school", "s/0/2", NOW + timedelta(seconds=3))
    other, _ = audit_event(value, "salto", "t/0/1", NOW)
    assert first == again != other


@pytest.mark.parametrize(
    ("value", "field"),
    [
        (b"not json", "not JSON"),
        (canonical({"delivery_id": "d", "state": "lost", "at": "2026-11-26T12:00:00Z"}), "state"),
        (canonical({"state": "received", "at": "2026-11-26T12:00:00Z"}), "delivery_id"),
        (canonical({"delivery_id": "d", "state": "received", "at": "noon"}), "at"),
        (canonical({"delivery_id": "d", "state": "received", "at": "2026-11-26T12:00:00"}), "zone"),
    ],
)
def test_invalid_receipts_are_refused_naming_the_field(value: bytes, field: str) -> None:
    """The relay turns these into receipt-rejected events with this reason."""
    with pytest.raises(AuditError, match=field):
        audit_event(value, "school", "s/0/1", NOW)


def test_a_delivery_not_received_in_time_is_overdue() -> None:
    """Overdue means: delivered longer ago than the limit and no receipt at all."""
    old = "2026-11-26T10:00:00Z"
    fresh = "2026-11-26T11:50:00Z"
    accesses = [
        Access("a", "school", old, None, None),
        Access("b", "school", old, "2026-11-26T10:01:00Z", None),
        Access("c", "school", fresh, None, None),
    ]
    assert [a.delivery_id for a in overdue(accesses, NOW, timedelta(hours=1))] == ["a"]


def test_the_store_joins_deliveries_with_their_receipts(tmp_path: Path) -> None:
    """Delivered by a decision record; received and opened by relayed receipts."""
    deliver = [
        canonical(json.loads(drill.record_value(i)) | {"delivery_id": f"d-{i}"}) for i in range(3)
    ]
    _, opened = audit_event(receipt("d-1", State.opened, NOW)[1], "school", "r/0/1", NOW)
    _, received = audit_event(receipt("d-2", State.received, NOW)[1], "school", "r/0/2", NOW)
    _, elsewhere = audit_event(receipt("d-0", State.received, NOW)[1], "salto", "r/0/3", NOW)
    log = drill.seal_all([*deliver, opened, received, elsewhere], KEY, every=10)
    with AuditStore.open(tmp_path / "a.sqlite") as st:
        st.add(log.entries)
        rows = {a.delivery_id: a for a in st.access_log("school")}
    assert rows["d-0"].received_at is None  # salto's receipt does not count for school
    assert rows["d-1"].received_at == rows["d-1"].opened_at is not None
    assert rows["d-2"].received_at is not None
    assert rows["d-2"].opened_at is None
