"""An organisation's copies delivered but never opened (or never received), from the bytes."""

from __future__ import annotations

import json
from pathlib import Path

from broker.adapters.stores.auditor.unread import Unread, unread_copies
from broker.core.audit.access import State, audit_event, receipt
from broker.core.audit.events import canonical
from broker.core.directory import Organisation
from broker.testing import audit as drill
from tests.unit.adapters.stores.auditor.conftest import store_with


def _delivered(i: int, organisation: str, delivery_id: str | None) -> bytes:
    record = json.loads(drill.record_value(i))
    record |= {"organisation": organisation}
    if delivery_id is None:
        record |= {"outcome": "deny", "rule_id": None, "legal_basis": None}
    else:
        record |= {"delivery_id": delivery_id}
    return canonical({k: v for k, v in record.items() if v is not None})


def _receipt(delivery_id: str, state: State, organisation: str) -> bytes:
    _, value = receipt(delivery_id, state, drill.T0)
    org = Organisation(id=organisation, name=organisation, kind="school")
    return audit_event(value, org, f"receipts.{organisation}/0/1", drill.T0)[1]


def test_unread_copies_are_those_its_own_receipts_never_opened(tmp_path: Path) -> None:
    """d1 opened, d2 only received, d3 opened by another organisation (which does not count
    for this one), d4 another organisation's copy; a denied decision delivers nothing."""
    values = [
        _delivered(0, "skole-9002", "d1"),
        _delivered(1, "skole-9002", "d2"),
        _delivered(2, "skole-9002", "d3"),
        _delivered(3, "skole-9001", "d4"),
        _delivered(4, "skole-9002", None),
        _receipt("d1", State.received, "skole-9002"),
        _receipt("d1", State.opened, "skole-9002"),
        _receipt("d2", State.received, "skole-9002"),
        _receipt("d3", State.opened, "skole-9001"),
    ]
    with store_with(tmp_path, values) as s:
        assert unread_copies(s, "skole-9002") == Unread(3, ("d2", "d3"), ("d3",))
        assert unread_copies(s, "skole-9001") == Unread(1, ("d4",), ("d4",))
        assert unread_copies(s, "salto-oslo") == Unread(0, (), ())


def test_an_opened_copy_whose_received_receipt_was_lost_is_read(tmp_path: Path) -> None:
    values = [_delivered(0, "skole-9002", "d1"), _receipt("d1", State.opened, "skole-9002")]
    with store_with(tmp_path, values) as s:
        assert unread_copies(s, "skole-9002") == Unread(1, (), ())
