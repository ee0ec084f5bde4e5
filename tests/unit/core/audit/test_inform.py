"""Inform events: built only as the duty allows (persons, how, codes), refused naming the field,
and attributed to the reviewer under a type of their own."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from broker.core.audit import OBLIGATION_TYPE, writers
from broker.core.audit.errors import ObligationError
from broker.core.audit.inform import exception_event, informed_event
from broker.core.audit.messages import Informed, InformException, read_audit_message
from broker.core.policy import PolicySet
from broker.core.policy.duties import Duty

T = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _duty(policy: PolicySet, duty_id: str = "inform-data-subject") -> Duty:
    return next(d for d in policy.duties if d.id == duty_id)


def test_an_informed_event_names_record_persons_how_and_when(policy: PolicySet) -> None:
    rid, value = informed_event(
        "r1", _duty(policy), persons=["guardians", "child"], how="letter", informed_at=T, when=T
    )
    event = read_audit_message(OBLIGATION_TYPE, value)
    assert isinstance(event, Informed)
    assert (event.record_id, event.decision_record_id, event.persons, event.how) == (
        rid,
        "r1",
        ["child", "guardians"],
        "letter",
    )
    assert writers.ENTITLED["informed"] == writers.Entitlement(writers.REVIEWER, OBLIGATION_TYPE)


def test_an_exception_event_carries_a_catalogue_code_only(policy: PolicySet) -> None:
    _, value = exception_event(
        "r1", _duty(policy), persons=["child"], code="would-harm-investigation", when=T
    )
    event = read_audit_message(OBLIGATION_TYPE, value)
    assert isinstance(event, InformException)
    assert set(json.loads(value)) == {
        "record_id",
        "event",
        "recorded_at",
        "decision_record_id",
        "duty",
        "persons",
        "exception",
    }
    with pytest.raises(ObligationError) as exc:
        exception_event("r1", _duty(policy), persons=["child"], code="busy", when=T)
    assert exc.value.field == "exception"
    assert "'busy' is not an exception of inform-data-subject" in exc.value.reason


@pytest.mark.parametrize(
    ("persons", "how", "at", "field"),
    [
        ([], "letter", T, "persons"),
        (["neighbour"], "letter", T, "persons"),
        (["child"], "carrier-pigeon", T, "how"),
        (["child"], "letter", T + timedelta(days=1), "informed_at"),
        (["child"], "letter", T.replace(tzinfo=None), "informed_at"),
    ],
)
def test_bad_input_is_refused_naming_the_field(
    policy: PolicySet, persons: list[str], how: str, at: datetime, field: str
) -> None:
    with pytest.raises(ObligationError) as exc:
        informed_event("r1", _duty(policy), persons=persons, how=how, informed_at=at, when=T)
    assert exc.value.field == field


def test_a_duty_closed_by_feedback_takes_no_inform_event(policy: PolicySet) -> None:
    with pytest.raises(ObligationError) as exc:
        informed_event(
            "r1",
            _duty(policy, "concern-receipt"),
            persons=["child"],
            how="letter",
            informed_at=T,
            when=T,
        )
    assert exc.value.field == "duty"
