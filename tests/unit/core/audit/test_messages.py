"""The one reader of audit-topic messages: every kind its writer wrote reads back as its model."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.core.audit import writers
from broker.core.audit.access import State, audit_event, receipt
from broker.core.audit.checkpoint import Checkpoint
from broker.core.audit.errors import AuditError, NotAnAuditMessage
from broker.core.audit.events import (
    CHECKPOINT_TYPE,
    DIRECTORY_TYPE,
    RECORD_TYPE,
    Retirement,
    canonical,
    retirement_event,
    review_event,
)
from broker.core.audit.messages import (
    EVENTS,
    OrganisationRetired,
    ReceiptRecord,
    ReceiptRejected,
    ReviewRecord,
    read_audit_message,
    read_stored_record,
)
from broker.core.directory import Organisation
from broker.core.pipeline import Source
from broker.core.records import AuditEvent, AuditRecord, Outcome
from broker.testing import audit as drill
from broker.testing.fakes import ReadyPipeline

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


def test_every_kind_a_writer_is_entitled_to_has_a_model() -> None:
    """The reader knows exactly the kinds writers.ENTITLED names (checkpoints by their type)."""
    assert set(EVENTS) | {writers.CHECKPOINT} == set(writers.ENTITLED)


def test_audit_records_read_back_as_audit_records(ready: ReadyPipeline) -> None:
    """A dead letter as the worker writes it (its None fields left out) and a decision are
    AuditRecords with their fields typed."""
    result = ready.pipeline.process(b"not a notice", [], Source("t.notices", 0, 0))
    (message,) = result.audit_records
    record = read_audit_message(RECORD_TYPE, message.value)
    assert isinstance(record, AuditRecord)
    assert record.event is AuditEvent.dead_letter
    assert (record.notice_id, record.subject_ref) == (None, None)
    assert b"subject_ref" not in message.value
    decided = read_audit_message(RECORD_TYPE, drill.record_value(3))
    assert isinstance(decided, AuditRecord)
    assert decided.outcome is Outcome.deliver
    assert decided.legal_basis is not None
    assert decided.legal_basis.id == "politiregisterloven-24"


def test_a_checkpoint_reads_back_as_a_checkpoint() -> None:
    """By its CloudEvents type, exactly as the sealer published it."""
    log = drill.seal_all([drill.record_value(i) for i in range(3)], KEY, every=3)
    published = log.entries[-1]
    assert read_audit_message(CHECKPOINT_TYPE, published.value) == log.witness[-1]
    with pytest.raises(NotAnAuditMessage, match="checkpoint: field origin"):
        read_audit_message(CHECKPOINT_TYPE, canonical({"tree_size": 1}))


def test_reviews_and_receipts_read_back_as_their_models() -> None:
    """The reviewer's and the relay's events are typed too."""
    _, review = review_event("r-1", "reviewer-1", "seen", NOW)
    assert read_audit_message(RECORD_TYPE, review) == ReviewRecord(
        record_id=json.loads(review)["record_id"],
        event="review",
        recorded_at=NOW,
        reviewed_record_id="r-1",
        reviewer="reviewer-1",
        note="seen",
    )
    _, value = receipt("d-1", State.opened, NOW - timedelta(minutes=1))
    school = Organisation(id="skole-9002", name="Vestre Lindeløkka skole", kind="school")
    _, event = audit_event(value, school, "receipts.skole-9002/0/1", NOW)
    relayed = read_audit_message(RECORD_TYPE, event)
    assert isinstance(relayed, ReceiptRecord)
    assert (relayed.event, relayed.delivery_id, relayed.recipient, relayed.organisation) == (
        State.opened,
        "d-1",
        "school",
        "skole-9002",
    )
    rejected = canonical(
        {
            "record_id": "x",
            "event": "receipt-rejected",
            "recorded_at": "2026-11-26T12:00:00Z",
            "recipient": "school",
            "source": "receipts.school/0/2",
            "reasons": ["receipt: not JSON"],
            "input_sha256": "0" * 64,
        }
    )
    assert isinstance(read_audit_message(RECORD_TYPE, rejected), ReceiptRejected)


def test_a_retirement_reads_back_as_its_model_with_ids_only() -> None:
    """The directory administrator's event: ids, dates, versions and the unread delivery ids;
    the same retirement of the same directory has the same record id."""
    retirement = Retirement(
        organisation="skole-9002",
        kind="school",
        retired_on=date(2026, 6, 30),
        reason="  Slått sammen  ",
        successor=None,
        directory_version="sha256:" + "1" * 64,
        policy_version="sha256:" + "2" * 64,
        unread=("d2", "d1", "d2"),
        unreceived=("d2",),
    )
    rid, value = retirement_event(retirement, NOW)
    read = read_audit_message(DIRECTORY_TYPE, value)
    assert read == OrganisationRetired(
        record_id=rid,
        event="organisation-retired",
        recorded_at=NOW,
        organisation="skole-9002",
        kind="school",
        retired_on=date(2026, 6, 30),
        reason="Slått sammen",
        successor=None,
        directory_version="sha256:" + "1" * 64,
        policy_version="sha256:" + "2" * 64,
        unread=["d1", "d2"],
        unreceived=["d2"],
    )
    assert b"successor" not in value
    assert retirement_event(retirement, NOW + timedelta(hours=1))[0] == rid
    with pytest.raises(ValueError, match="reason: must be 1 to 500"):
        retirement_event(dataclasses.replace(retirement, reason=" "), NOW)
    many = dataclasses.replace(retirement, unread=tuple(f"{i:032x}" for i in range(30_000)))
    with pytest.raises(ValueError, match="30000 delivery ids do not fit"):
        retirement_event(many, NOW)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (b"\xff not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (canonical({"record_id": "x"}), "its event is not a kind"),
        (canonical({"record_id": "x", "event": ["decision"]}), "its event is not a kind"),
        (canonical({"event": "review", "record_id": "x"}), "not a review record: recorded_at"),
    ],
)
def test_a_message_that_is_not_one_is_a_typed_error(value: bytes, why: str) -> None:
    """NotAnAuditMessage (an AuditError) says what is wrong."""
    with pytest.raises(NotAnAuditMessage, match=why) as raised:
        read_audit_message(RECORD_TYPE, value)
    assert isinstance(raised.value, AuditError)
    assert raised.value.code == "not-an-audit-message"


def test_the_error_names_fields_never_values() -> None:
    """A record with a wrong field says which field, not what it held."""
    doc = json.loads(drill.record_value(1)) | {"recorded_at": "12010101-secret", "extra": "x"}
    with pytest.raises(NotAnAuditMessage) as raised:
        read_audit_message(RECORD_TYPE, canonical(doc))
    assert "recorded_at" in str(raised.value)
    assert "extra: extra_forbidden" in str(raised.value)
    assert "secret" not in str(raised.value)


def test_a_checkpoint_is_only_ever_read_by_its_type() -> None:
    """A checkpoint's JSON under the record type is not a record (it names no event)."""
    log = drill.seal_all([drill.record_value(0)], KEY, every=1)
    cp = log.entries[-1].value
    assert isinstance(read_audit_message(CHECKPOINT_TYPE, cp), Checkpoint)
    with pytest.raises(NotAnAuditMessage):
        read_audit_message(RECORD_TYPE, cp)


def test_a_stored_record_reads_back_without_the_stores_own_keys() -> None:
    """The auditor store's documents carry ``_offset``; the record reads back as its model, and
    a document that is not a record is a typed error, not a dict to poke at."""
    doc = json.loads(drill.record_value(3)) | {"_offset": 17}
    record = read_stored_record(doc)
    assert isinstance(record, AuditRecord)
    assert record.outcome is Outcome.deliver
    with pytest.raises(NotAnAuditMessage, match="event"):
        read_stored_record({"event": "unreadable", "_offset": 18})


def test_a_record_citing_its_basis_as_before_still_reads() -> None:
    """Audit records are kept for ever: one written when bases were cited by ``section`` and
    ``verified`` reads with that citation and status (its bytes, which the hashes cover, are
    not rewritten), and one with neither form is refused."""
    new = json.loads(drill.record_value(5))
    basis = new["legal_basis"]
    old = {k: v for k, v in basis.items() if k not in ("citation", "status", "source")}
    old |= {"section": "§ 24 nr. 2", "verified": "content-only"}
    record = read_stored_record(new | {"legal_basis": old})
    assert isinstance(record, AuditRecord)
    assert record.legal_basis is not None
    assert (record.legal_basis.citation, record.legal_basis.status) == (
        "§ 24 nr. 2",
        "content-only",
    )
    assert record.legal_basis.source is None
    bare = {k: v for k, v in old.items() if k not in ("section", "verified")}
    with pytest.raises(NotAnAuditMessage):
        read_stored_record(new | {"legal_basis": bare})
