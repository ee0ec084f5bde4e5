"""The review list, access log, chart and statistics: computed from the record bytes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from broker.adapters.stores.auditor import Tampered, summaries
from broker.adapters.stores.auditor.columns import COLUMNS
from broker.core.audit.access import Access
from broker.core.audit.events import CHECKPOINT_TYPE, REVIEW_TYPE, Entry, review_event
from broker.testing import audit as drill
from tests.unit.adapters.stores.auditor.conftest import store_with


def test_pending_reviews_disappear_once_reviewed(tmp_path: Path) -> None:
    """review_required records are pending until a review event names them."""
    urgent = drill.record_value(1)[:-1] + b',"review_required":true}'
    with store_with(tmp_path, [drill.record_value(0), urgent]) as s:
        pending = s.pending_reviews()
        assert [d["record_id"] for d in pending] == [f"{1:032x}"]
        _, value = review_event(f"{1:032x}", "Kari Revisor", "checked", drill.T0)
        s.add([Entry(100, REVIEW_TYPE, value)])
        assert s.pending_reviews() == []
        assert s.stats()["pending_reviews"] == 0


def test_stats_count_by_recipient_and_legal_basis(tmp_path: Path) -> None:
    """The overview counts decisions per recipient and outcome, deliveries per legal basis."""
    values = [drill.record_value(i, "school" if i < 3 else "salto") for i in range(5)]
    with store_with(tmp_path, values) as s:
        stats = s.stats()
        assert stats["by_recipient"] == [("salto", "deliver", 2), ("school", "deliver", 3)]
        assert stats["by_legal_basis"] == [("politiregisterloven-24", 5)]


def _row(**columns: Any) -> dict[str, Any]:
    """A row as derived from its bytes, every column None unless given."""
    return dict.fromkeys(COLUMNS) | {"review_required": False} | columns


def _delivery(
    did: str, at: str, rcpt: str = "school", org: str | None = "skole-9002", **columns: Any
) -> dict[str, Any]:
    return _row(
        delivery_id=did,
        recipient=rcpt,
        organisation=org,
        recorded_at=at,
        outcome="deliver",
        **columns,
    )


def _receipt(
    event: str, did: str, at: str, rcpt: str = "school", org: str | None = "skole-9002"
) -> dict[str, Any]:
    return _row(event=event, delivery_id=did, recipient=rcpt, organisation=org, recorded_at=at)


def test_an_opened_delivery_counts_as_received_when_opened() -> None:
    """The received receipt was lost; the opened one shows it arrived."""
    rows = [_delivery("d1", "T1"), _receipt("opened", "d1", "T3")]
    assert summaries.access_log(rows) == [Access("d1", "school", "skole-9002", "T1", "T3", "T3")]


def test_the_access_log_takes_the_first_of_repeated_events() -> None:
    """At-least-once delivery repeats records: the earliest time of each counts."""
    rows = [
        _delivery("d1", "T2"),
        _delivery("d1", "T1"),
        _receipt("received", "d1", "T4"),
        _receipt("received", "d1", "T3"),
        _delivery("d2", "T0", "salto", "salto-oslo"),
        _row(outcome="deliver", recipient="school", recorded_at="T0"),  # no delivery id
    ]
    assert summaries.access_log(rows) == [
        Access("d2", "salto", "salto-oslo", "T0", None, None),
        Access("d1", "school", "skole-9002", "T1", "T3", None),
    ]
    assert [a.delivery_id for a in summaries.access_log(rows, "salto")] == ["d2"]


def test_a_receipt_counts_only_for_its_own_organisation_s_delivery() -> None:
    """skole-9003 reports skole-9002's delivery id received: nothing is received. Both are
    schools, so a join on the role would have counted it."""
    rows = [
        _delivery("d1", "T1"),
        _receipt("received", "d1", "T2", org="skole-9003"),
        _receipt("opened", "d1", "T3", org="skole-9003"),
    ]
    assert summaries.access_log(rows) == [Access("d1", "school", "skole-9002", "T1", None, None)]


def test_the_access_log_is_filtered_by_the_delivery_s_organisation() -> None:
    """--organisation: that organisation's deliveries, with their receipts."""
    rows = [
        _delivery("d1", "T1"),
        _delivery("d2", "T2", "child-welfare", "bydel-alna-barnevern"),
        _receipt("received", "d2", "T3", "child-welfare", "bydel-alna-barnevern"),
    ]
    assert summaries.access_log(rows, organisation="bydel-alna-barnevern") == [
        Access("d2", "child-welfare", "bydel-alna-barnevern", "T2", "T3", None)
    ]
    assert summaries.access_log(rows, "school", "bydel-alna-barnevern") == []
    assert summaries.access_log(rows, organisation="skole-9003") == []


def test_records_from_before_they_named_an_organisation_join_on_their_recipient() -> None:
    """Before routing named organisations, a decision and its receipt both named the role; from
    4d77c84 until receipts named their organisation, a receipt's recipient was the organisation's
    id. Both still find their delivery."""
    rows = [
        _delivery("d1", "T1", "school", None),
        _receipt("received", "d1", "T2", "school", None),
        _delivery("d2", "T3", "school", "skole-9002"),
        _receipt("opened", "d2", "T4", "skole-9002", None),
        _receipt("received", "d2", "T5", "skole-9003", None),
    ]
    assert summaries.access_log(rows) == [
        Access("d1", "school", None, "T1", "T2", None),
        Access("d2", "school", "skole-9002", "T3", "T4", "T4"),
    ]
    assert [a.delivery_id for a in summaries.access_log(rows, organisation="skole-9002")] == ["d2"]


def test_a_repeated_urgent_record_is_pending_once() -> None:
    value = drill.record_value(1)
    urgent = _row(kafka_offset=1, value=value, record_id=f"{1:032x}", review_required=True)
    pending = summaries.pending_reviews([urgent, urgent | {"kafka_offset": 2}])
    assert [(d["record_id"], d["_offset"]) for d in pending] == [(f"{1:032x}", 1)]


def test_disclosures_are_counted_by_day_recipient_and_basis() -> None:
    rows = [
        _delivery("d1", "2026-11-26T12:00:00Z", legal_basis="a"),
        _delivery("d2", "2026-11-26T13:00:00Z", legal_basis="a"),
        _delivery("d3", "2026-11-25T13:00:00Z", "salto", legal_basis="b"),
        _receipt("received", "d1", "2026-11-26T14:00:00Z"),
    ]
    assert summaries.disclosures_by_day(rows) == [
        ("2026-11-25", "salto", "b", 1),
        ("2026-11-26", "school", "a", 2),
    ]


def test_stats_sort_unknown_values_last_and_span_the_times() -> None:
    """None sorts after every name (as in PostgreSQL); first and last bound the recorded times."""
    t = Tampered(2, ("recipient",), 1)
    scan = [
        (_row(event="decision", recipient=None, outcome="deny", recorded_at="T2"), None),
        (_row(event="decision", recipient="school", outcome="deny", recorded_at="T1"), t),
        (_row(ce_type=CHECKPOINT_TYPE), None),
    ]
    stats = summaries.stats(scan, pending_reviews=4)
    assert stats["entries"] == 3
    assert stats["by_event"] == [("decision", 2), (CHECKPOINT_TYPE, 1)]
    assert stats["by_recipient"] == [("school", "deny", 1), (None, "deny", 1)]
    assert (stats["first"], stats["last"]) == ("T1", "T2")
    assert stats["pending_reviews"] == 4
    assert stats["tampered"] == [t]
