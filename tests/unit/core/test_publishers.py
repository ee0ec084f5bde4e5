"""Publishers are organisations too: a notice's signing key is bound to a sender class and an
organisation (the key registry), and that organisation must be one the directory lists, of a
kind that sends the class's notices. A school publishes its concern report as itself."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import pytest

from broker.adapters.examples import OTHER_SENDERS, example_organisation
from broker.core.directory import DIRECTORY_FILE
from broker.core.directory_edit import retired
from broker.core.policy import PolicySet
from broker.testing.fakes import EXAMPLE_UNITS, ready_pipeline
from tests.conftest import POLICIES, SUBJECT_KEY, example, redate


def _concern_report(now: datetime, unit: str) -> dict[str, Any]:
    path = OTHER_SENDERS / "01-school-concern-report.json"
    doc: dict[str, Any] = redate(json.loads(path.read_text(encoding="utf-8")), now)
    doc["issuer"]["unit_id"] = unit
    return doc


def test_a_school_publishes_its_concern_report_as_itself(policy: PolicySet, now: datetime) -> None:
    """osloskolen-9003's key is bound to skole-9003 (a school): the report is decided, and
    every audit record names the school as the publisher."""
    ready = ready_pipeline(policy, now=now, subject_key=SUBJECT_KEY)
    result = ready.process(_concern_report(now, "osloskolen-9003"))
    assert result.error is None
    assert result.decisions
    publishers = {json.loads(m.value)["publisher"] for m in result.audit_records}
    assert publishers == {"skole-9003"}


def test_police_notices_name_the_police_district_as_publisher(
    policy: PolicySet, now: datetime
) -> None:
    ready = ready_pipeline(policy, now=now, subject_key=SUBJECT_KEY)
    result = ready.process(example("threat", now))
    assert {json.loads(m.value)["publisher"] for m in result.audit_records} == {
        "oslo-politidistrikt"
    }


@pytest.mark.parametrize(
    ("unit", "code"),
    [
        # a school-class key for an organisation the directory does not list
        ("skole-ukjent", "publisher-organisation-unknown"),
        # a school-class key whose organisation is a child welfare service
        ("bydel-alna-barnevern", "publisher-organisation-mismatch"),
    ],
)
def test_a_key_bound_to_no_fitting_organisation_is_dead_lettered(
    policy: PolicySet, now: datetime, unit: str, code: str
) -> None:
    """Deny by default: the notice is decided for no one, dead-lettered with its own code, and
    the dead letter's audit record says why."""
    assert example_organisation(unit) == unit  # its key names itself as its organisation
    ready = ready_pipeline(
        policy, now=now, subject_key=SUBJECT_KEY, units={**EXAMPLE_UNITS, unit: "school"}
    )
    result = ready.process(_concern_report(now, unit))
    assert result.decisions == ()
    assert result.deliveries == ()
    assert result.error is not None
    assert result.error.code == code
    (record,) = [json.loads(m.value) for m in result.audit_records]
    assert record["event"] == "dead-letter"
    assert code in json.dumps(record)


def test_a_retired_publishing_organisation_is_dead_lettered(
    policy: PolicySet, now: datetime
) -> None:
    """skole-9003 retired: its school's concern report is refused with its own code."""
    data = (POLICIES / DIRECTORY_FILE).read_bytes()
    _, directory = retired(
        data,
        "directory.yaml",
        policy.recipients,
        "skole-9003",
        on=date(2026, 11, 1),
        reason="closed",
    )
    ready = ready_pipeline(policy, now=now, subject_key=SUBJECT_KEY, directory=directory)
    result = ready.process(_concern_report(now, "osloskolen-9003"))
    assert result.decisions == ()
    assert result.error is not None
    assert result.error.code == "publisher-organisation-retired"
