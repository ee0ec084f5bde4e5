"""The audit table renders typed records: each kind in its own words, never a value."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from broker.adapters.locale import load_translator
from broker.cli.audit._render import audit_columns, audit_row, stored_records
from broker.core.audit.events import review_event
from broker.core.audit.messages import ReviewRecord
from broker.core.records import AuditRecord
from broker.testing import audit as drill

NOW = datetime(2026, 11, 26, 12, 0, 5, tzinfo=UTC)
NB, EN = load_translator("nb"), load_translator("en")


def test_a_decision_row_names_rule_basis_and_field_counts() -> None:
    """A delivery shows its notice, recipient role and the organisation that filled it, rule,
    legal basis and kept/withheld counts; a record from before organisations shows the role."""
    (record,) = stored_records([json.loads(drill.record_value(3, organisation="skole-9002"))])
    assert isinstance(record, AuditRecord)
    row = audit_row(record, EN)
    assert row[3:] == [
        "school (skole-9002)",
        "[green]delivered[/]",
        record.rule_id,
        "politiregisterloven-24",
        f"{len(record.fields_kept)}/{len(record.fields_withheld)}",
    ]
    (older,) = stored_records([json.loads(drill.record_value(4))])
    assert audit_row(older, EN)[3] == "school"
    assert audit_row(record, NB)[2] == "hendelsesmelding"
    assert audit_row(record, NB)[4] == "[green]utlevert[/]"


def test_a_review_row_names_what_was_reviewed_and_by_whom() -> None:
    _, value = review_event("0123456789abcdef", "jurist-1", "seen", NOW)
    (review,) = stored_records([json.loads(value)])
    assert isinstance(review, ReviewRecord)
    # 12:00:05 UTC is 13:00:05 in Oslo in November (CET)
    assert audit_row(review, EN) == [
        "13:00:05",
        "-",
        "-",
        "-",
        "[cyan]reviewed[/]",
        "of 0123456789ab by jurist-1",
        "-",
        "-",
    ]
    assert audit_row(review, NB)[0] == "13.00.05"
    assert audit_row(review, NB)[5] == "av 0123456789ab ved jurist-1"


def test_the_columns_are_in_the_readers_language() -> None:
    assert audit_columns(NB)[:2] == ["registrert (norsk tid)", "melding"]
    assert audit_columns(EN)[:2] == ["recorded (Oslo time)", "notice"]


def test_documents_that_are_not_records_are_left_out_of_the_table() -> None:
    """The store keeps an unreadable value (verify names it); the table shows records only."""
    docs = [{"event": "unreadable", "_offset": 1}, json.loads(drill.record_value(0))]
    assert len(stored_records(docs)) == 1
