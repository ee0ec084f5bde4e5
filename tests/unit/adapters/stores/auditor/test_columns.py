"""Index columns derived from a message's bytes, and the stored row that disagrees with them."""

from __future__ import annotations

from datetime import datetime

from broker.adapters.stores.auditor import Tampered
from broker.adapters.stores.auditor.columns import (
    COLUMNS,
    derive,
    disagreeing,
    document,
    headers_of,
    headers_text,
    stamp,
)
from broker.core.audit.access import AUDIT_RECEIPT_TYPE, State, audit_event, receipt
from broker.core.audit.events import RECORD_TYPE, canonical
from broker.core.directory import Organisation
from broker.testing import audit as drill
from tests.unit.adapters.stores.auditor.conftest import KEY


def test_a_record_s_columns_come_from_its_model() -> None:
    """A decision record is indexed by what it says: recipient, outcome, legal basis, time."""
    row = derive(7, RECORD_TYPE, drill.record_value(3, "salto"))
    assert (row["kafka_offset"], row["record_id"], row["recipient"]) == (7, f"{3:032x}", "salto")
    assert (row["outcome"], row["legal_basis"]) == ("deliver", "politiregisterloven-24")
    assert row["recorded_at"] == "2026-11-26T12:00:03.000000Z"
    assert row["review_required"] is False
    assert row["tree_size"] is None


def test_the_organisation_column_comes_from_decisions_and_receipts() -> None:
    """A decision and a receipt are indexed by their organisation; a record from before they
    named one has none (its recipient still indexed)."""
    decision = derive(0, RECORD_TYPE, drill.record_value(0, "school", "skole-9002"))
    assert (decision["recipient"], decision["organisation"]) == ("school", "skole-9002")
    school = Organisation(id="skole-9002", name="Vestre Lindeløkka skole", kind="school")
    _, value = audit_event(receipt("d-1", State.opened, drill.T0)[1], school, "r/0/1", drill.T0)
    relayed = derive(1, AUDIT_RECEIPT_TYPE, value)
    assert (relayed["recipient"], relayed["organisation"]) == ("school", "skole-9002")
    assert relayed["delivery_id"] == "d-1"
    old = derive(2, RECORD_TYPE, drill.record_value(2))
    assert (old["recipient"], old["organisation"]) == ("school", None)


def test_a_checkpoint_is_indexed_by_its_tree_size() -> None:
    log = drill.seal_all([drill.record_value(i) for i in range(3)], KEY, every=3)
    cp = log.entries[-1]
    row = derive(cp.offset, cp.ce_type, cp.value)
    assert row["tree_size"] == 3
    assert row["record_id"] is None


def test_a_value_that_is_not_a_record_is_indexed_by_its_record_id_only() -> None:
    """It claims a recipient, but it is no audit record: no column says so."""
    row = derive(0, RECORD_TYPE, canonical({"record_id": "x", "recipient": "salto"}))
    assert row["record_id"] == "x"
    assert row["recipient"] is None


def test_disagreeing_names_the_columns_that_differ_from_the_bytes() -> None:
    stored = derive(4, RECORD_TYPE, drill.record_value(4))
    assert disagreeing(stored)[1] == ()
    forged = stored | {"recipient": "salto", "review_required": 1, "kafka_offset": "4"}
    derived, bad = disagreeing(forged)
    assert bad == ("recipient", "review_required")
    assert derived["recipient"] == "school"
    assert set(derived) == set(COLUMNS)


def test_tampered_names_the_record_and_columns_never_values() -> None:
    t = Tampered(12, ("recipient", "outcome"), 9, "abc")
    assert t.where() == "record #9, offset 12, record_id abc"
    assert str(t) == (
        "column-mismatch: record #9, offset 12, record_id abc: stored column(s) recipient, "
        "outcome disagree with the record's bytes"
    )
    assert Tampered(5, ("tree_size",)).where() == "checkpoint, offset 5"


def test_headers_read_back_as_written_and_unreadable_ones_as_none() -> None:
    headers = (("ce_type", b"x"), ("sig", bytes(range(256))))
    assert headers_of(headers_text(headers)) == headers
    assert headers_text(None) is None
    assert headers_of(None) is None
    assert headers_of("not json") is None
    assert headers_of('[["k", "not base64!"]]') is None


def test_a_time_without_a_zone_has_no_stamp() -> None:
    assert stamp(datetime(2026, 1, 1, 12)) is None
    assert stamp(drill.T0) == "2026-11-26T12:00:00.000000Z"


def test_a_document_is_the_record_json_with_its_offset() -> None:
    assert document(3, b'{"record_id":"x"}') == {"record_id": "x", "_offset": 3}
    assert document(4, b"\xff") == {"event": "unreadable", "_offset": 4}
    assert document(5, b"[1]") == {"event": "unreadable", "_offset": 5}
