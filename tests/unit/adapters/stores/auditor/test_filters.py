"""Filters: the conditions a query puts on the index columns."""

from __future__ import annotations

from datetime import timedelta, timezone

from broker.adapters.stores.auditor import Filters
from broker.core.audit.events import CHECKPOINT_TYPE
from broker.testing import audit as drill


def test_no_filter_selects_every_record_and_no_checkpoint() -> None:
    assert Filters().where() == (["ce_type <> ?"], [CHECKPOINT_TYPE])


def test_each_given_filter_adds_one_condition() -> None:
    f = Filters(recipient="school", subject_ref="hs256:x", since=drill.T0, until=drill.T0)
    where, params = f.where()
    assert where == [
        "ce_type <> ?",
        "recipient = ?",
        "subject_ref = ?",
        "recorded_at >= ?",
        "recorded_at < ?",
    ]
    assert params == [CHECKPOINT_TYPE, "school", "hs256:x", *["2026-11-26T12:00:00.000000Z"] * 2]


def test_the_organisation_is_a_filter_of_its_own() -> None:
    """What did Bydel Alna receive: the organisation, not the role every district shares."""
    where, params = Filters(recipient="child-welfare", organisation="bydel-alna-barnevern").where()
    assert where[1:] == ["recipient = ?", "organisation = ?"]
    assert params[1:] == ["child-welfare", "bydel-alna-barnevern"]


def test_a_decision_is_an_outcome_or_an_event() -> None:
    """deliver and deny are outcomes of a decision; dead-letter and review are events."""
    assert Filters(decision="deny").where()[0][-1] == "outcome = ?"
    assert Filters(decision="review").where()[0][-1] == "event = ?"


def test_times_compare_as_utc_text() -> None:
    """A time in another zone is compared as the UTC text the columns hold."""
    oslo = drill.T0.astimezone(timezone(timedelta(hours=1)))
    assert Filters(since=oslo).where()[1][-1] == "2026-11-26T12:00:00.000000Z"
