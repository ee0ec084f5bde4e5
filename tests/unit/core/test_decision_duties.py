"""The worker's audit records name the duties each delivery opens (from policies/duties.yaml)
and, for a concern feedback, the report it answers and its status; denies open nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from broker.adapters.examples import OTHER_SENDERS
from broker.core.records import AuditRecord
from broker.testing import audit as drill
from broker.testing.fakes import ReadyPipeline
from tests.conftest import redate


def _other(name: str, now: datetime, **changes: Any) -> dict[str, Any]:
    """An example of another sender (a school, child welfare) dated for ``now``."""
    (path,) = OTHER_SENDERS.glob(f"*{name}*.json")
    doc: dict[str, Any] = redate(json.loads(path.read_text(encoding="utf-8")), now)
    return doc | changes


def _records(ready: ReadyPipeline, doc: dict[str, Any]) -> dict[str, AuditRecord]:
    result = ready.process(doc)
    assert result.dead_letter is None
    records = [AuditRecord.model_validate_json(m.value) for m in result.audit_records]
    return {str(r.recipient): r for r in records}


def test_a_police_disclosure_opens_the_duty_to_inform_and_a_deny_nothing(
    ready: ReadyPipeline, notice: Callable[..., dict[str, Any]]
) -> None:
    by = _records(ready, notice("threat"))
    assert by["school"].duties == ["inform-data-subject"]
    assert by["child-welfare"].duties == [
        "inform-data-subject",
        "concern-receipt",
        "concern-review",
    ]
    assert by["police"].outcome == "deny"
    assert by["police"].duties == []
    # a child-level copy under prl § 27 fourth paragraph: the child and guardians are told
    assert by["salto"].duties == ["inform-data-subject"]
    assert all(r.answers is None for r in by.values())


def test_a_schools_concern_report_opens_child_welfares_deadlines(
    ready: ReadyPipeline, now: datetime
) -> None:
    by = _records(ready, _other("01-school-concern-report", now))
    assert by["child-welfare"].duties == ["concern-receipt", "concern-review"]


def test_a_feedback_names_the_report_it_answers_on_every_record(
    ready: ReadyPipeline, now: datetime
) -> None:
    """Every recipient's record carries the answer (no case notes); only the delivered one
    opens the follow-up duty of an investigation."""
    doc = _other("child-welfare-feedback", now)
    by = _records(ready, doc)
    for record in by.values():
        assert record.answers is not None
        assert (record.answers.notice_id, record.answers.status) == (
            doc["concern_ref"],
            "investigating",
        )
    assert by["police"].duties == ["follow-up-feedback"]
    assert [r.duties for k, r in by.items() if k != "police"] == [[]] * (len(by) - 1)


def test_a_feedback_may_say_whether_the_child_is_followed_up(
    ready: ReadyPipeline, now: datetime
) -> None:
    """The new statuses pass the police's feedback rule and open no further duty."""
    by = _records(ready, _other("child-welfare-feedback", now, status="followed-up"))
    assert by["police"].outcome == "deliver"
    assert by["police"].duties == []
    assert by["police"].answers is not None
    assert by["police"].answers.status == "followed-up"


def test_old_records_read_with_no_duties() -> None:
    """Records from before duties were tracked keep reading (defaults)."""
    old = AuditRecord.model_validate_json(drill.record_value(1))
    assert (old.duties, old.answers) == ([], None)
