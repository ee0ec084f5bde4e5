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
from broker.core.audit.messages import ReceiptRecord, read_audit_message
from broker.core.directory import Organisation
from broker.testing import audit as drill

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
SCHOOL = Organisation(id="skole-9002", name="Vestre Lindeløkka skole", kind="school")
OTHER_SCHOOL = Organisation(id="skole-9003", name="Holmlia Øst skole", kind="school")
SALTO = Organisation(id="salto-oslo", name="SaLTo", kind="salto")


def test_a_receipt_becomes_an_audit_event_for_the_topics_organisation() -> None:
    """The organisation comes from the receipts topic, not from the message; the event names it
    and the role it fills, as a decision's audit record does."""
    _, value = receipt("d-1", State.opened, NOW - timedelta(minutes=5))
    forged = json.loads(value) | {"recipient": "police", "organisation": "skole-9003"}
    _, event = audit_event(canonical(forged), SCHOOL, "receipts.skole-9002/0/7", NOW)
    data = json.loads(event)
    assert (data["event"], data["delivery_id"]) == ("opened", "d-1")
    assert (data["recipient"], data["organisation"]) == ("school", "skole-9002")
    assert data["receipt_at"] == "2026-11-26T11:55:00.000000Z"
    assert data["recorded_at"] == "2026-11-26T12:00:00.000000Z"
    assert data["source"] == "receipts.skole-9002/0/7"


def test_the_same_receipt_relayed_twice_has_one_record_id() -> None:
    """At-least-once relaying: a repeat is recognisable as the same event; another
    organisation's receipt for the same delivery id, even of the same role, is another."""
    _, value = receipt("d-1", State.received, NOW)
    first, _ = audit_event(value, SCHOOL, "s/0/1", NOW)
    again, _ = audit_event(value, SCHOOL, "s/0/2", NOW + timedelta(seconds=3))
    other_school, _ = audit_event(value, OTHER_SCHOOL, "t/0/1", NOW)
    salto, _ = audit_event(value, SALTO, "u/0/1", NOW)
    assert first == again
    assert len({first, other_school, salto}) == 3


def test_a_receipt_relayed_before_receipts_named_their_organisation_still_reads() -> None:
    """Old logs verify: a receipt with only its recipient (the organisation's id from 4d77c84
    on) reads as a ReceiptRecord without an organisation."""
    _, value = audit_event(receipt("d-1", State.opened, NOW)[1], SCHOOL, "s/0/1", NOW)
    old = json.loads(value)
    old.pop("organisation")
    old["recipient"] = "skole-9002"
    record = read_audit_message("no.oslo.broker.audit-receipt.v1", canonical(old))
    assert isinstance(record, ReceiptRecord)
    assert (record.recipient, record.organisation) == ("skole-9002", None)


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
        audit_event(value, SCHOOL, "s/0/1", NOW)


def test_a_delivery_not_received_in_time_is_overdue() -> None:
    """Overdue means: delivered longer ago than the limit and no receipt at all."""
    old = "2026-11-26T10:00:00Z"
    fresh = "2026-11-26T11:50:00Z"
    accesses = [
        Access("a", "school", "skole-9002", old, None, None),
        Access("b", "school", "skole-9002", old, "2026-11-26T10:01:00Z", None),
        Access("c", "school", "skole-9002", fresh, None, None),
    ]
    assert [a.delivery_id for a in overdue(accesses, NOW, timedelta(hours=1))] == ["a"]


def _delivered(i: int, organisation: Organisation) -> bytes:
    """A deliver decision's record value for ``organisation``, with delivery id d-<i>."""
    value = drill.record_value(i, organisation.kind, organisation.id)
    return canonical(json.loads(value) | {"delivery_id": f"d-{i}"})


def _relayed(delivery_id: str, state: State, organisation: Organisation, at: int) -> bytes:
    source = f"receipts.{organisation.id}/0/{at}"
    return audit_event(receipt(delivery_id, state, NOW)[1], organisation, source, NOW)[1]


def test_the_store_joins_deliveries_with_their_receipts(tmp_path: Path) -> None:
    """Delivered by a decision record; received and opened by relayed receipts of the
    organisation the delivery was for."""
    deliver = [_delivered(0, SCHOOL), _delivered(1, SCHOOL), _delivered(2, SCHOOL)]
    opened = _relayed("d-1", State.opened, SCHOOL, 1)
    received = _relayed("d-2", State.received, SCHOOL, 2)
    elsewhere = _relayed("d-0", State.received, SALTO, 3)
    log = drill.seal_all([*deliver, opened, received, elsewhere], KEY, every=10)
    with AuditStore.open(tmp_path / "a.sqlite") as st:
        st.add(log.entries)
        rows = {a.delivery_id: a for a in st.access_log("school")}
    assert rows["d-0"].received_at is None  # salto's receipt does not count for school
    assert rows["d-1"].received_at == rows["d-1"].opened_at is not None
    assert rows["d-2"].received_at is not None
    assert rows["d-2"].opened_at is None
    assert {a.organisation for a in rows.values()} == {"skole-9002"}


def _access_log(tmp_path: Path, name: str, values: list[bytes], **only: str) -> list[Access]:
    with AuditStore.open(tmp_path / f"{name}.sqlite") as st:
        st.add(drill.seal_all(values, KEY, every=10).entries)
        return st.access_log(**only)


def test_one_school_cannot_mark_another_school_s_delivery_received(tmp_path: Path) -> None:
    """skole-9003's system reports skole-9002's delivery id as received and opened on its own
    receipts topic: the delivery stays unreceived (and overdue); skole-9002's own receipt
    counts."""
    deliver = _delivered(0, SCHOOL)
    foreign = [_relayed("d-0", state, OTHER_SCHOOL, n) for n, state in enumerate(State)]
    (access,) = _access_log(tmp_path, "foreign", [deliver, *foreign])
    assert (access.recipient, access.organisation) == ("school", "skole-9002")
    assert (access.received_at, access.opened_at) == (None, None)
    assert access.overdue(NOW + timedelta(hours=2), timedelta(hours=1))
    assert _access_log(tmp_path, "other", [deliver, *foreign], organisation="skole-9003") == []
    own = _relayed("d-0", State.received, SCHOOL, 9)
    (access,) = _access_log(tmp_path, "own", [deliver, *foreign, own], organisation="skole-9002")
    assert (access.received_at is not None, access.opened_at) == (True, None)
