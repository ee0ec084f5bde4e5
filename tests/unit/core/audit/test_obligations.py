"""Obligations followed from hand-built audit documents to the events that close them, at an
injected ``now``: closed by inform events or feedback, overdue, and every misfit a problem."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from broker.core.audit.inform import exception_event, informed_event
from broker.core.audit.obligations import Obligation, State, ledger
from broker.core.policy import PolicySet

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
REPORT = "00000000-0000-4000-8000-00000000000a"


def _decision(rid: str, **fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "record_id": rid,
        "event": "decision",
        "recorded_at": T0.isoformat(),
        "policy_version": "sha256:0",
        "notice_id": REPORT,
        "notice_type": "incident",
        "source": "notices/0/1",
        "subject_ref": "hs256:00",
        "recipient": "child-welfare",
        "outcome": "deliver",
        "organisation": "bydel-grorud-barnevern",
        "publisher": "oslo-politidistrikt",
        "duties": ["inform-data-subject", "concern-receipt", "concern-review"],
        "_offset": 3,
    }
    return doc | fields


def _feedback(rid: str, status: str, days: float, notice: str, **fields: Any) -> dict[str, Any]:
    return _decision(
        rid,
        notice_id=notice,
        notice_type="concern-feedback",
        recipient="police",
        organisation="oslo-politidistrikt",
        publisher="bydel-grorud-barnevern",
        recorded_at=(T0 + timedelta(days=days)).isoformat(),
        duties=["follow-up-feedback"] if status == "investigating" else [],
        answers={"notice_id": REPORT, "status": status},
        **fields,
    )


def _by(found: list[Obligation]) -> dict[tuple[str, str], Obligation]:
    return {(o.duty, o.record_id): o for o in found}


def _informed(policy: PolicySet, rid: str, persons: list[str], days: float = 1) -> dict[str, Any]:
    duty = next(d for d in policy.duties if d.id == "inform-data-subject")
    when = T0 + timedelta(days=days)
    _, value = informed_event(rid, duty, persons=persons, how="letter", informed_at=when, when=when)
    return dict(json.loads(value))


def test_a_disclosure_opens_its_duties_with_their_deadlines(policy: PolicySet) -> None:
    """Open at first; concern-receipt due in 21 days, concern-review in 7, inform: no date."""
    found = ledger([_decision("r1")], policy.duties, T0 + timedelta(days=1))
    assert not found.problems
    by = _by(found.obligations)
    assert by[("concern-receipt", "r1")].due_at == T0 + timedelta(days=21)
    assert by[("concern-review", "r1")].due_at == T0 + timedelta(days=7)
    assert by[("inform-data-subject", "r1")].due_at is None
    assert {o.state for o in found.obligations} == {State.open}
    assert by[("inform-data-subject", "r1")].organisation == "bydel-grorud-barnevern"


def test_past_its_due_time_an_open_obligation_is_overdue(policy: PolicySet) -> None:
    """Eight days on, the review is overdue, receipt still open; inform never overdue."""
    by = _by(ledger([_decision("r1")], policy.duties, T0 + timedelta(days=8)).obligations)
    assert by[("concern-review", "r1")].state is State.overdue
    assert by[("concern-receipt", "r1")].state is State.open
    assert by[("inform-data-subject", "r1")].state is State.open


def test_a_later_feedback_closes_receipt_and_review(policy: PolicySet) -> None:
    """'received' closes the receipt only; 'investigating' then closes the review and opens
    the follow-up, which a 'followed-up' closes; the holder is the child welfare service."""
    docs = [
        _decision("r1"),
        _feedback("f1", "received", 2, "00000000-0000-4000-8000-0000000000f1"),
        _feedback("f2", "investigating", 9, "00000000-0000-4000-8000-0000000000f2"),
    ]
    found = ledger(docs, policy.duties, T0 + timedelta(days=30))
    by = _by(found.obligations)
    assert by[("concern-receipt", "r1")].closed_by == ("f1",)
    assert by[("concern-review", "r1")].closed_by == ("f2",)
    assert by[("concern-review", "r1")].late  # answered on day 9 of 7
    follow = by[("follow-up-feedback", "f2")]
    assert (follow.state, follow.organisation, follow.due_at) == (
        State.open,
        "bydel-grorud-barnevern",
        None,
    )
    docs.append(_feedback("f3", "followed-up", 40, "00000000-0000-4000-8000-0000000000f3"))
    later = _by(ledger(docs, policy.duties, T0 + timedelta(days=41)).obligations)
    assert later[("follow-up-feedback", "f2")].closed_by == ("f3",)


def test_a_feedback_with_a_status_the_duty_does_not_take_leaves_it_open(
    policy: PolicySet,
) -> None:
    """'received' does not say the review is done."""
    docs = [_decision("r1"), _feedback("f1", "received", 2, "00000000-0000-4000-8000-00000000f001")]
    by = _by(ledger(docs, policy.duties, T0 + timedelta(days=3)).obligations)
    assert by[("concern-review", "r1")].state is State.open


def test_a_feedback_for_an_unknown_report_is_listed_as_unmatched(policy: PolicySet) -> None:
    """It closes nothing and is named (ids only)."""
    other = _feedback("f1", "received", 2, "00000000-0000-4000-8000-00000000f001")
    other["answers"] = {"notice_id": "00000000-0000-4000-8000-00000000dead", "status": "received"}
    found = ledger([_decision("r1"), other], policy.duties, T0 + timedelta(days=3))
    assert [p.split(":")[0] for p in found.problems] == ["unmatched"]
    assert "00000000-0000-4000-8000-00000000dead" in found.problems[0]
    assert _by(found.obligations)[("concern-receipt", "r1")].state is State.open


def test_the_duty_to_inform_closes_once_child_and_guardians_are_covered(
    policy: PolicySet,
) -> None:
    """Guardians told: still open; then an exception for the child: closed by both events."""
    docs = [_decision("r1"), _informed(policy, "r1", ["guardians"])]
    by = _by(ledger(docs, policy.duties, T0 + timedelta(days=2)).obligations)
    assert by[("inform-data-subject", "r1")].state is State.open
    duty = next(d for d in policy.duties if d.id == "inform-data-subject")
    _, value = exception_event(
        "r1", duty, persons=["child"], code="would-harm-child", when=T0 + timedelta(days=2)
    )
    docs.append(json.loads(value))
    by = _by(ledger(docs, policy.duties, T0 + timedelta(days=3)).obligations)
    closed = by[("inform-data-subject", "r1")]
    assert closed.state is State.closed
    assert len(closed.closed_by) == 2
    assert closed.closed_at == T0 + timedelta(days=2)


def test_an_inform_event_for_a_record_that_opened_no_duty_is_a_problem(
    policy: PolicySet,
) -> None:
    """A deny (no duties) informed about: named, and nothing is closed."""
    docs = [_decision("r1", outcome="deny", duties=[]), _informed(policy, "r1", ["child"])]
    found = ledger(docs, policy.duties, T0)
    assert found.obligations == []
    assert found.problems[0].startswith("no-duty: informed")


def test_an_exception_code_not_in_the_catalogue_is_not_counted(policy: PolicySet) -> None:
    """A forged code (the core builder refuses it; the log may still hold one): a problem."""
    event = {
        "record_id": "e1",
        "event": "inform-exception",
        "recorded_at": T0.isoformat(),
        "decision_record_id": "r1",
        "duty": "inform-data-subject",
        "persons": ["child", "guardians"],
        "exception": "felt-like-it",
    }
    found = ledger([_decision("r1"), event], policy.duties, T0)
    assert found.problems[0].startswith("unknown-exception: e1")
    assert _by(found.obligations)[("inform-data-subject", "r1")].state is State.open


def test_a_repeated_record_counts_once_and_unknown_duties_are_named(policy: PolicySet) -> None:
    """At-least-once delivery repeats records; a duty the catalogue lost is a problem."""
    docs = [_decision("r1"), _decision("r1"), _decision("r2", duties=["gone"])]
    found = ledger(docs, policy.duties, T0)
    assert len(found.obligations) == 3
    assert found.problems == [
        "unknown-duty: record r2 opened 'gone', which policies/duties.yaml has no obligation for"
    ]


@pytest.mark.parametrize("bad", [{"event": "nonsense"}, {"no": "event"}])
def test_documents_that_are_no_record_are_skipped(policy: PolicySet, bad: Any) -> None:
    assert ledger([bad], policy.duties, T0).obligations == []
