"""The pipeline: one decision per recipient, deliveries as CloudEvents, dead letters audited,
and no personal data value in any audit record."""

import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest

from broker.core.paths import leaves
from broker.core.pipeline import Pipeline, Result, Source
from broker.core.policy import PolicySet
from tests.conftest import ROOT, ce_headers, redate

SRC = Source("t.notices", 0, 7)


def _run(pipeline: Pipeline, doc: Any, headers: Any = None) -> Result:
    value = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    if headers is None:
        headers = ce_headers(doc, pipeline.clock())
    return pipeline.process(value, headers, SRC)


def _personal_values(doc: dict[str, Any]) -> set[str]:
    """Every string value in the notice that could identify or describe someone."""
    # enumerations and ids are not personal data, and their values double as field names
    skip = {
        "notice_type",
        "issued_at",
        "notice_id",
        "risk.at_risk[]",
        "risk.level",
        "incident.category",
        "incident.child_role",
    }
    return {str(v) for p, v in leaves(doc) if p not in skip and len(str(v)) > 4}


@pytest.mark.parametrize("name", ["recruited", "threat", "robbery"])
def test_one_decision_and_one_audit_record_per_recipient(
    pipeline: Pipeline, policy: PolicySet, notice: Callable[..., dict[str, Any]], name: str
) -> None:
    """Every recipient gets exactly one decision, audited once; deliveries match 'deliver'."""
    result = _run(pipeline, notice(name))
    assert result.dead_letter is None
    assert sorted(d.recipient for d in result.decisions) == sorted(policy.recipients)
    assert len(result.audit_records) == len(policy.recipients)
    delivered = [d for d in result.decisions if d.outcome == "deliver"]
    assert len(result.deliveries) == len(delivered)


@pytest.mark.parametrize("name", ["recruited", "threat", "robbery"])
def test_audit_records_hold_no_personal_data(
    pipeline: Pipeline, notice: Callable[..., dict[str, Any]], name: str
) -> None:
    """Audit records carry field names and a keyed child reference, never a value."""
    doc = notice(name)
    result = _run(pipeline, doc)
    text = b"\n".join(
        m.value + repr(m.headers).encode() + (m.key or b"") for m in result.audit_records
    ).decode()
    leaked = [v for v in _personal_values(doc) if v in text]
    assert leaked == []
    record = json.loads(result.audit_records[0].value)
    assert record["subject_ref"].startswith("hs256:")


def test_delivery_is_a_cloudevent_with_the_law_and_the_copy(
    pipeline: Pipeline, notice: Callable[..., dict[str, Any]]
) -> None:
    """A delivery names its rule and legal basis, carries the redacted copy, and is keyed
    differently per recipient so that recipients cannot join on the key."""
    doc = notice("threat")
    result = _run(pipeline, doc)
    by_topic = {m.topic: m for m in result.deliveries}
    school = by_topic["t.deliveries.school"]
    headers = dict(school.headers)
    assert headers["ce_type"] == b"no.oslo.broker.delivery.v1"
    body = json.loads(school.value)
    assert body["legal_basis"]["id"] == "prl-prevent"
    assert "national_id" not in body["notice"]["child"]
    assert school.key != by_topic["t.deliveries.child-welfare"].key
    assert doc["child"]["national_id"].encode() not in school.key


def test_delivery_ids_are_deterministic(
    pipeline: Pipeline, notice: Callable[..., dict[str, Any]]
) -> None:
    """Re-processing the same notice gives the same delivery ids (subscribers can dedupe)."""
    first = [dict(m.headers)["ce_id"] for m in _run(pipeline, notice("threat")).deliveries]
    again = [dict(m.headers)["ce_id"] for m in _run(pipeline, notice("threat")).deliveries]
    assert first == again


@pytest.mark.parametrize(
    ("value", "headers", "code", "field"),
    [
        (b"{not json", None, "not-json", "value"),
        (b"\xff\xfe", None, "not-utf8", "value"),
        (b"[1, 2]", None, "not-object", "value"),
        (
            b"{}",
            [
                ("ce_specversion", b"1.0"),
                ("ce_type", b"no.oslo.broker.gossip-notice.v1"),
                ("ce_source", b"/x"),
                ("ce_id", b"1"),
            ],
            "unknown-type",
            "ce_type",
        ),
        (b"{}", [("ce_type", b"no.oslo.broker.risk-notice.v1")], "envelope-invalid", "headers"),
        (b"x" * (300 * 1024), None, "too-large", "value"),
    ],
)
def test_invalid_input_is_dead_lettered_and_audited(
    pipeline: Pipeline, value: bytes, headers: Any, code: str, field: str
) -> None:
    """Bad input that did not arrive sealed goes to the dead-letter topic as a reference
    (position, hash, reason), never as a copy, and is audited."""
    hdrs = headers if headers is not None else ce_headers({"notice_type": "risk"}, pipeline.clock())
    result = pipeline.process(value, hdrs, SRC)
    assert result.decisions == ()
    assert result.dead_letter is not None
    assert result.dead_letter.topic == "t.notices.dead-letter"
    letter = json.loads(result.dead_letter.value)
    assert letter["source"] == "t.notices/0/7"
    assert letter["input_sha256"] == hashlib.sha256(value).hexdigest()
    assert letter["input_bytes"] == len(value)
    assert letter["code"] == code
    assert "sealed_copy" not in letter
    if len(value) > 8:
        assert value not in result.dead_letter.value
    error = json.loads(dict(result.dead_letter.headers)["broker_error"])
    assert error["code"] == code
    assert error["problems"][0]["field"] == field
    (audit,) = result.audit_records
    record = json.loads(audit.value)
    assert record["event"] == "dead-letter"
    assert record["reasons"][0].startswith(code)


def test_dead_letter_names_field_without_value(
    pipeline: Pipeline, notice: Callable[..., dict[str, Any]]
) -> None:
    """A bad national id is named by field and reason; the number itself appears nowhere."""
    doc = notice("robbery")
    nid = doc["child"]["national_id"]
    doc["child"]["national_id"] = nid[:-1] + str((int(nid[-1]) + 1) % 10)
    result = _run(pipeline, doc)
    error = dict(result.dead_letter.headers)["broker_error"].decode()  # type: ignore[union-attr]
    assert "child.national_id" in error
    assert "check digits" in error
    assert doc["child"]["national_id"] not in error
    assert doc["child"]["national_id"] not in result.audit_records[0].value.decode()


def test_notice_id_must_match_event_id(
    pipeline: Pipeline, notice: Callable[..., dict[str, Any]]
) -> None:
    """The CloudEvent id and the notice id must agree, so audit and transport tell one story."""
    doc = notice("threat")
    headers = [(k, b"other" if k == "ce_id" else v) for k, v in ce_headers(doc, pipeline.clock())]
    result = _run(pipeline, doc, headers)
    assert result.error is not None
    assert result.error.code == "id-mismatch"


def test_urgent_disclosure_is_marked_for_review(
    pipeline: Pipeline, notice: Callable[..., dict[str, Any]]
) -> None:
    """A notice flagged as danger to life: the urgent delivery's audit record requires review,
    the others do not."""
    result = _run(pipeline, notice("threat", danger_to_life_or_health=True))
    records = {r["recipient"]: r for r in (json.loads(m.value) for m in result.audit_records)}
    assert records["school"]["rule_id"] == "risk-school-urgent"
    assert records["school"]["review_required"] is True
    assert [r for r, rec in records.items() if rec["review_required"]] == ["school"]
    ordinary = _run(pipeline, notice("threat"))
    assert not any(json.loads(m.value)["review_required"] for m in ordinary.audit_records)


def test_transformed_fields_are_named_in_delivery_and_audit(
    pipeline: Pipeline, notice: Callable[..., dict[str, Any]]
) -> None:
    """SaLTo's copy says which values are pseudonyms or age bands; the audit record too."""
    doc = notice("threat")
    result = _run(pipeline, doc)
    salto = json.loads(next(m for m in result.deliveries if m.topic == "t.deliveries.salto").value)
    expected = {"notice_id": "pseudonymise", "child.birth_date": "generalise:age-band"}
    assert salto["fields_transformed"] == expected
    assert salto["notice"]["notice_id"] != doc["notice_id"]
    audit = next(
        json.loads(m.value)
        for m in result.audit_records
        if json.loads(m.value)["recipient"] == "salto"
    )
    assert audit["fields_transformed"] == expected


def test_other_senders_notices_are_decided_for_every_recipient(
    pipeline: Pipeline, policy: PolicySet
) -> None:
    """A school's concern report and child welfare's feedback reach only their recipients."""
    for name, delivered in (
        ("concern-report.json", {"child-welfare"}),
        ("concern-feedback.json", {"police"}),
    ):
        doc = redate(
            json.loads((ROOT / "policies" / "tests" / "notices" / name).read_text()),
            pipeline.clock(),
        )
        result = _run(pipeline, doc)
        assert result.dead_letter is None, result.error
        assert len(result.decisions) == len(policy.recipients)
        assert {d.recipient for d in result.decisions if d.outcome == "deliver"} == delivered
