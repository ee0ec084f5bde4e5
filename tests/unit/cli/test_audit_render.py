"""The audit table renders typed records: each kind in its own words, never a value."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from broker.cli.audit._render import audit_row, stored_records
from broker.core.audit.events import review_event
from broker.core.audit.messages import ReviewRecord
from broker.core.records import AuditRecord
from broker.testing import audit as drill

NOW = datetime(2026, 11, 26, 12, 0, 5, tzinfo=UTC)


def test_a_decision_row_names_rule_basis_and_field_counts() -> None:
    """A delivery shows its notice, recipient role and the organisation that filled it, rule,
    legal basis and kept/withheld counts; a record from before organisations shows the role."""
    (record,) = stored_records([json.loads(drill.record_value(3, organisation="skole-9002"))])
    assert isinstance(record, AuditRecord)
    row = audit_row(record)
    assert row[3:] == [
        "school (skole-9002)",
        "[green]deliver[/]",
        record.rule_id,
        "politiregisterloven-24",
        f"{len(record.fields_kept)}/{len(record.fields_withheld)}",
    ]
    (older,) = stored_records([json.loads(drill.record_value(4))])
    assert audit_row(older)[3] == "school"


def test_a_review_row_names_what_was_reviewed_and_by_whom() -> None:
    _, value = review_event("0123456789abcdef", "jurist-1", "seen", NOW)
    (review,) = stored_records([json.loads(value)])
    assert isinstance(review, ReviewRecord)
    assert audit_row(review) == [
        "12:00:05",
        "-",
        "-",
        "-",
        "[cyan]review[/]",
        "of 0123456789ab by jurist-1",
        "-",
        "-",
    ]


def test_documents_that_are_not_records_are_left_out_of_the_table() -> None:
    """The store keeps an unreadable value (verify names it); the table shows records only."""
    docs = [{"event": "unreadable", "_offset": 1}, json.loads(drill.record_value(0))]
    assert len(stored_records(docs)) == 1
