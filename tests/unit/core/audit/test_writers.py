"""Who may write what on the audit topic: the entitlement table, the writers' signatures, and
the verifier listing every message no entitled writer signed as unattributed."""

from __future__ import annotations

import base64
import dataclasses
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from broker.adapters.stores import keyfiles
from broker.adapters.stores.auditor import AuditStore
from broker.adapters.stores.keyfiles import KeyPaths
from broker.cli.keys import app
from broker.core.audit import writers
from broker.core.audit.access import AUDIT_RECEIPT_TYPE, State
from broker.core.audit.checkpoint import trusted_keys
from broker.core.audit.events import (
    CHECKPOINT_TYPE,
    DIRECTORY_TYPE,
    OBLIGATION_TYPE,
    RECORD_TYPE,
    REVIEW_TYPE,
    Entry,
    canonical,
    ce_headers,
)
from broker.core.audit.faults import FaultKind
from broker.core.audit.sealer import Sealer
from broker.core.audit.verify import Verifier, verify_log
from broker.core.crypto import signing
from broker.core.crypto.registry import AUDIT_WRITERS, BROKER_OWNER, KeyKind, Registry, SigningKey
from broker.core.errors import ConfigError
from broker.core.pipeline import Source
from broker.core.policy import PolicySet
from broker.core.records import AuditEvent
from broker.testing import audit as drill
from broker.testing.fakes import ready_pipeline

SEAL_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
TRUSTED = trusted_keys(SEAL_KEY.public_key())
UNIT = "oslo-pd-ost"


@dataclasses.dataclass
class World:
    paths: KeyPaths
    now: datetime

    @property
    def registry(self) -> Registry:
        return keyfiles.load_registry(self.paths.registry)

    def key(self, writer: str) -> SigningKey:
        return keyfiles.writer_key(self.paths, self.registry, writer)


@pytest.fixture
def world(tmp_path: Path, now: datetime) -> World:
    paths = KeyPaths.under(tmp_path / "keys")
    for writer in AUDIT_WRITERS:
        keyfiles.ensure(paths, KeyKind.audit_writer, writer, now)
    keyfiles.ensure(paths, KeyKind.broker, BROKER_OWNER, now)
    keyfiles.ensure(paths, KeyKind.publisher, UNIT, now, sender="police", organisation=UNIT)
    return World(paths, now)


def _value(event: str, i: int = 0) -> bytes:
    return canonical({"record_id": f"{event}-{i:04d}", "event": event, "n": i})


def _entry(
    world: World,
    event: str,
    ce_type: str,
    signer: str | None,
    offset: int = 0,
    purpose: bytes = writers.AUDIT_RECORD,
) -> Entry:
    value = _value(event, offset)
    headers = ce_headers(ce_type, f"id-{offset}", world.now)
    if signer is not None:
        headers = signing.sign(headers, value, world.key(signer), purpose)
    return Entry(offset, ce_type, value, headers)


# --- the entitlement table ---------------------------------------------------------------


def test_every_kind_of_record_has_exactly_its_writer() -> None:
    """Decisions, dead letters and worker-state: the worker; checkpoints: the sealer; reviews
    and inform events: the reviewer; receipts (received, opened, rejected): the relay;
    retirements from the directory: the directory's administrator. Nothing else is listed."""
    expected = {
        **{e.value: (writers.WORKER, RECORD_TYPE) for e in AuditEvent},
        "checkpoint": (writers.SEALER, CHECKPOINT_TYPE),
        "review": (writers.REVIEWER, REVIEW_TYPE),
        "informed": (writers.REVIEWER, OBLIGATION_TYPE),
        "inform-exception": (writers.REVIEWER, OBLIGATION_TYPE),
        **{s.value: (writers.RELAY, AUDIT_RECEIPT_TYPE) for s in State},
        "receipt-rejected": (writers.RELAY, AUDIT_RECEIPT_TYPE),
        "organisation-retired": (writers.DIRECTORY_ADMIN, DIRECTORY_TYPE),
    }
    assert {k: (e.writer, e.ce_type) for k, e in writers.ENTITLED.items()} == expected
    assert {e.writer for e in writers.ENTITLED.values()} == set(AUDIT_WRITERS)
    assert writers.kinds_of(writers.REVIEWER) == ["review", "informed", "inform-exception"]
    assert writers.kinds_of(writers.DIRECTORY_ADMIN) == ["organisation-retired"]


@pytest.mark.parametrize(("kind", "entitled"), list(writers.ENTITLED.items()))
def test_a_record_signed_by_its_entitled_writer_is_attributed(
    world: World, kind: str, entitled: writers.Entitlement
) -> None:
    entry = _entry(world, kind, entitled.ce_type, entitled.writer)
    if kind == writers.CHECKPOINT:  # a checkpoint is known by its type, not by an event field
        assert writers.kind_of(entry) == "checkpoint"
    assert writers.check(entry, world.registry) is None


# --- what is not attributable ------------------------------------------------------------


def test_a_decision_signed_by_the_reviewer_is_not_attributed(world: World) -> None:
    """The finding: a "deliver" decision written (and validly signed) as the reviewer."""
    problem = writers.check(
        _entry(world, "decision", RECORD_TYPE, writers.REVIEWER), world.registry
    )
    assert problem is not None
    assert "of the reviewer" in problem
    assert "only the worker writes decision records" in problem


@pytest.mark.parametrize("forger", [w for w in AUDIT_WRITERS if w != writers.WORKER])
@pytest.mark.parametrize("event", ["decision", "dead-letter", "worker-state"])
def test_a_worker_record_forged_by_any_other_writer_is_not_attributed(
    world: World, forger: str, event: str
) -> None:
    """Each principal besides the worker that may write the audit topic (sealer, reviewer,
    relay), signing a worker's kind of record with its own valid key: not attributed."""
    problem = writers.check(_entry(world, event, RECORD_TYPE, forger), world.registry)
    assert problem is not None
    assert f"of the {forger}" in problem


def test_a_review_signed_by_the_relay_is_not_attributed(world: World) -> None:
    problem = writers.check(_entry(world, "review", REVIEW_TYPE, writers.RELAY), world.registry)
    assert problem is not None
    assert "of the receipts-relay" in problem
    assert "only the reviewer writes review records" in problem


def test_an_inform_event_is_the_reviewers_under_its_own_type(world: World) -> None:
    """Signed by the reviewer as an obligation event: attributed; by the relay, or posing as a
    review: not."""
    assert (
        writers.check(_entry(world, "informed", OBLIGATION_TYPE, writers.REVIEWER), world.registry)
        is None
    )
    relayed = writers.check(
        _entry(world, "informed", OBLIGATION_TYPE, writers.RELAY), world.registry
    )
    assert relayed is not None
    assert "only the reviewer writes informed records" in relayed
    posing = _entry(world, "inform-exception", REVIEW_TYPE, writers.REVIEWER)
    assert writers.check(posing, world.registry) == (
        f"a inform-exception record travels as {OBLIGATION_TYPE}, not as another type"
    )


def test_a_retirement_signed_by_another_writer_is_not_attributed(world: World) -> None:
    """Only the directory's administrator writes organisation-retired events: the reviewer,
    who may write the audit topic too, cannot."""
    entry = _entry(world, "organisation-retired", DIRECTORY_TYPE, writers.REVIEWER)
    problem = writers.check(entry, world.registry)
    assert problem is not None
    assert "only the directory-admin writes organisation-retired records" in problem
    retyped = _entry(world, "organisation-retired", REVIEW_TYPE, writers.DIRECTORY_ADMIN)
    assert writers.check(retyped, world.registry) == (
        f"a organisation-retired record travels as {DIRECTORY_TYPE}, not as another type"
    )


def test_an_unsigned_record_is_not_attributed(world: World) -> None:
    problem = writers.check(_entry(world, "decision", RECORD_TYPE, None), world.registry)
    assert problem is not None
    assert "signature-missing" in problem


def test_a_record_whose_source_kept_no_headers_is_not_attributed(world: World) -> None:
    entry = dataclasses.replace(
        _entry(world, "decision", RECORD_TYPE, writers.WORKER), headers=None
    )
    problem = writers.check(entry, world.registry)
    assert problem is not None
    assert "kept no headers" in problem


def test_a_notice_publishers_signature_is_not_a_writers(world: World) -> None:
    """A publisher's key is not an audit-writer key, whatever label it signed under."""
    publisher = keyfiles.signing_key(world.paths, world.registry, KeyKind.publisher, UNIT)
    value = _value("decision")
    headers = ce_headers(RECORD_TYPE, "id-0", world.now)
    for purpose in (signing.NOTICE, writers.AUDIT_RECORD):
        signed = signing.sign(headers, value, publisher, purpose)
        problem = writers.check(Entry(0, RECORD_TYPE, value, signed), world.registry)
        assert problem is not None
        assert "key-unknown" in problem
        assert f"no audit-writer key '{publisher.key_id}'" in problem


def test_a_writers_signature_under_another_label_does_not_count(world: World) -> None:
    """The worker's own key, but over the notice or delivery label: not an audit record."""
    for purpose in (signing.NOTICE, signing.DELIVERY):
        entry = _entry(world, "decision", RECORD_TYPE, writers.WORKER, purpose=purpose)
        problem = writers.check(entry, world.registry)
        assert problem is not None
        assert "signature-invalid" in problem


def test_a_retired_writers_key_is_refused(world: World) -> None:
    entry = _entry(world, "decision", RECORD_TYPE, writers.WORKER)
    assert writers.check(entry, world.registry) is None
    keyfiles.retire(world.paths, world.key(writers.WORKER).key_id, world.now)
    problem = writers.check(entry, world.registry)
    assert problem is not None
    assert "key-retired" in problem


def test_a_rotated_writers_key_still_counts(world: World) -> None:
    entry = _entry(world, "decision", RECORD_TYPE, writers.WORKER)
    keyfiles.rotate(world.paths, KeyKind.audit_writer, writers.WORKER, world.now)
    assert writers.check(entry, world.registry) is None


def test_a_record_tampered_with_after_signing_is_not_attributed(world: World) -> None:
    entry = _entry(world, "decision", RECORD_TYPE, writers.WORKER)
    edited = dataclasses.replace(entry, value=entry.value.replace(b'"n":0', b'"n":1'))
    problem = writers.check(edited, world.registry)
    assert problem is not None
    assert "signature-invalid" in problem
    # a signed header changed: the record's time
    headers = tuple(
        (k, b"2001-01-01T00:00:00+00:00" if k == "ce_time" else v) for k, v in entry.headers or ()
    )
    problem = writers.check(dataclasses.replace(entry, headers=headers), world.registry)
    assert problem is not None
    assert "signature-invalid" in problem


def test_a_record_posing_under_another_type_is_not_attributed(world: World) -> None:
    """A decision under the review type, signed by the worker: kinds travel as their type."""
    problem = writers.check(_entry(world, "decision", REVIEW_TYPE, writers.WORKER), world.registry)
    assert problem is not None
    assert f"travels as {RECORD_TYPE}" in problem


@pytest.mark.parametrize("value", [b"not json", b"[]", canonical({"event": "promotion"})])
def test_a_message_of_no_known_kind_is_not_attributed(world: World, value: bytes) -> None:
    headers = signing.sign(
        ce_headers(RECORD_TYPE, "x", world.now),
        value,
        world.key(writers.WORKER),
        writers.AUDIT_RECORD,
    )
    problem = writers.check(Entry(0, RECORD_TYPE, value, headers), world.registry)
    assert problem == "not a kind of audit record any writer is entitled to write"


def test_an_audit_writer_key_is_owned_by_a_writer_role(tmp_path: Path, now: datetime) -> None:
    paths = KeyPaths.under(tmp_path / "keys")
    with pytest.raises(ConfigError, match="owned by one of worker, audit-sealer"):
        keyfiles.generate(paths, KeyKind.audit_writer, "mallory", now)


# --- the verifier ------------------------------------------------------------------------


def _sealed_log(world: World, forged_at: int | None = None, n: int = 12) -> list[Entry]:
    """Decisions by the worker, a review by the reviewer and a receipt by the relay, sealed
    every 5 with the checkpoints signed as the sealer; at ``forged_at`` a decision written as
    the reviewer."""
    sealer = Sealer(SEAL_KEY, drill.ORIGIN, every=5, interval=timedelta(days=1))
    entries: list[Entry] = []
    for i in range(n):
        kind, ce_type, writer = "decision", RECORD_TYPE, writers.WORKER
        if i == 3:
            kind, ce_type, writer = "review", REVIEW_TYPE, writers.REVIEWER
        if i == 4:
            kind, ce_type, writer = "opened", AUDIT_RECEIPT_TYPE, writers.RELAY
        if i == forged_at:
            writer = writers.REVIEWER
        entry = _entry(world, kind, ce_type, writer, offset=len(entries))
        entries.append(entry)
        sealer.add(entry)  # the sealer seals what it reads, forged or not
        if sealer.pending >= 5 or i == n - 1:
            value = sealer.seal(world.now).to_json()
            headers = ce_headers(CHECKPOINT_TYPE, f"cp-{i}", world.now)
            headers = writers.sign(headers, value, world.key(writers.SEALER))
            cp = Entry(len(entries), CHECKPOINT_TYPE, value, headers)
            entries.append(cp)
            sealer.add(cp)
    return entries


def test_a_log_of_entitled_writers_verifies(world: World) -> None:
    report = verify_log(_sealed_log(world), TRUSTED, drill.ORIGIN, registry=world.registry)
    assert report.ok
    assert report.unattributed == []
    assert report.verified == report.sealed == report.records == 12


def test_the_auditor_store_keeps_each_messages_writer_signature(
    world: World, tmp_path: Path
) -> None:
    """Synced into the auditor store, the log still shows who wrote each message (the store
    keeps the headers); editing one stored header makes that message unattributed."""
    store_path = tmp_path / "audit.sqlite"
    with AuditStore.open(store_path) as st:
        st.add(_sealed_log(world))
        report = verify_log(st.entries, TRUSTED, drill.ORIGIN, registry=world.registry)
        assert report.ok
        assert report.verified == 12
        forged = json.dumps([["ce_type", base64.b64encode(REVIEW_TYPE.encode()).decode()]])
        st.execute("UPDATE audit_entries SET headers = ? WHERE kafka_offset = 3", (forged,))
        st.conn.commit()
        report = verify_log(st.entries, TRUSTED, drill.ORIGIN, registry=world.registry)
    assert not report.ok
    assert [f.offset for f in report.unattributed] == [3]


def test_a_sealed_forgery_is_unattributed_and_the_rest_still_checked(world: World) -> None:
    """The sealer sealed the reviewer's "decision"; the Merkle tree is intact, but the report
    names the record (offset, record id) and is not ok; it is not counted as verified."""
    entries = _sealed_log(world, forged_at=7)
    forged = entries[8]  # a checkpoint after the first 5 records shifts the offsets by one
    assert b'"decision-0008"' in forged.value
    report = verify_log(entries, TRUSTED, drill.ORIGIN, registry=world.registry)
    assert report.fault is None
    assert not report.ok
    assert report.sealed == 12
    assert report.verified == 11
    assert report.unattributed_count == 1
    (fault,) = report.unattributed
    assert fault.kind is FaultKind.unattributed
    assert (fault.index, fault.offset, fault.record_id) == (7, 8, "decision-0008")
    assert "unattributed: record #7, offset 8, record_id decision-0008" in str(fault)
    # the Merkle core alone (no registry) does not look at writers
    assert verify_log(entries, TRUSTED, drill.ORIGIN).ok


def test_an_unsigned_checkpoint_message_is_unattributed(world: World) -> None:
    entries = _sealed_log(world)
    cp = entries[5]
    assert cp.is_checkpoint
    entries[5] = dataclasses.replace(cp, headers=ce_headers(CHECKPOINT_TYPE, "cp", world.now))
    report = verify_log(entries, TRUSTED, drill.ORIGIN, registry=world.registry)
    assert report.fault is None  # the checkpoint's own signature still holds
    (fault,) = report.unattributed
    assert (fault.index, fault.checkpoint_offset) == (None, 5)
    assert report.verified == 12  # the records themselves are attributed


def test_the_verifier_keeps_counting_past_the_listing_limit(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("broker.core.audit.verify.UNATTRIBUTED_LIMIT", 2)
    v = Verifier(TRUSTED, drill.ORIGIN, registry=world.registry)
    for i in range(5):
        v.add(_entry(world, "decision", RECORD_TYPE, None, offset=i))
    report = v.finish()
    assert (len(report.unattributed), report.unattributed_count) == (2, 5)
    assert list(report.unattributed_records) == [0, 1, 2, 3, 4]


def test_the_pipeline_signs_its_audit_records_as_the_worker(
    world: World, policy: PolicySet
) -> None:
    """Every audit record the worker's pipeline writes is attributed to the worker."""
    key = world.key(writers.WORKER)
    pipeline = ready_pipeline(policy, now=world.now, audit_key=key).pipeline
    result = pipeline.process(b"not a notice", [], Source("t.notices", 0, 0))
    (message,) = result.audit_records
    entry = Entry(0, RECORD_TYPE, message.value, message.headers)
    assert writers.kind_of(entry) == "dead-letter"
    assert writers.check(entry, world.registry) is None
    # a pipeline whose worker key this registry does not know: its records are unattributed
    stranger = ready_pipeline(policy, now=world.now).pipeline
    (message,) = stranger.process(b"not a notice", [], Source("t.notices", 0, 0)).audit_records
    assert writers.check(Entry(0, RECORD_TYPE, message.value, message.headers), world.registry)


def test_broker_keys_generate_creates_an_audit_writers_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BROKER_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("BROKER_KEY_DIR", raising=False)
    monkeypatch.delenv("BROKER_KEY_REGISTRY", raising=False)
    runner = CliRunner()
    wrong = runner.invoke(app, ["generate", "--audit-writer", "mallory"])
    assert wrong.exit_code == 2
    assert "--audit-writer: must be one of worker, audit-sealer" in wrong.output
    made = runner.invoke(app, ["generate", "--audit-writer", "reviewer"])
    assert made.exit_code == 0, made.output
    registry = keyfiles.load_registry(tmp_path / "keys" / "registry.yaml")
    entry = registry.active(KeyKind.audit_writer, "reviewer")
    assert entry is not None
    assert entry.algorithm == "ed25519"
