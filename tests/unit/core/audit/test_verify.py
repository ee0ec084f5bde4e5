"""Tamper drills on a dump of the audit topic: each is detected and the record is named."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.core.audit.checkpoint import Checkpoint, sign, trusted_keys
from broker.core.audit.errors import AuditError
from broker.core.audit.events import CHECKPOINT_TYPE, RECORD_TYPE, Entry, record_id_of
from broker.core.audit.faults import FaultKind, Report
from broker.core.audit.merkle import MerkleTree, leaf_hash
from broker.core.audit.sealer import Sealer
from broker.core.audit.verify import Verifier, verify_log
from broker.testing import audit as drill

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
TRUSTED = trusted_keys(KEY.public_key())
N = 47  # records; a checkpoint every 10, and one over the last 7


@pytest.fixture(scope="module")
def log() -> drill.Log:
    return drill.build(N, KEY, every=10)


def _verify(log: drill.Log, witness: bool = True) -> Report:
    return verify_log(log.entries, TRUSTED, drill.ORIGIN, log.witness if witness else ())


def _record_id(log: drill.Log, index: int) -> str | None:
    return record_id_of(drill.records(log)[index].value)


def test_an_untouched_log_verifies(log: drill.Log) -> None:
    """All records sealed, every checkpoint checked, nothing unsealed."""
    report = _verify(log)
    assert report.ok, report.fault
    assert (report.records, report.checkpoints, report.sealed) == (N, 5, N)
    assert report.latest is not None
    assert report.latest.tree_size == N


def test_records_after_the_last_checkpoint_fail_unless_allowed(log: drill.Log) -> None:
    """A record past the last checkpoint (the sealer's lag, or a forgery) is not proven: strict
    verification names it; allow_unsealed accepts it and counts it."""
    extra = Entry(10_000, "no.oslo.broker.audit-record.v1", drill.record_value(999))
    strict = verify_log([*log.entries, extra], TRUSTED, drill.ORIGIN, log.witness)
    assert strict.fault is not None
    assert strict.fault.kind == FaultKind.unsealed
    assert (strict.fault.index, strict.fault.offset) == (N, 10_000)
    assert strict.fault.record_id == record_id_of(extra.value)
    report = verify_log(
        [*log.entries, extra], TRUSTED, drill.ORIGIN, log.witness, allow_unsealed=True
    )
    assert report.ok
    assert report.unsealed == 1


@pytest.mark.parametrize("witness", [True, False])
def test_one_changed_byte_is_named_as_edited(log: drill.Log, witness: bool) -> None:
    """Changing one byte of record 23 is found at the next checkpoint and names record 23."""
    report = _verify(drill.edit_byte(log, 23), witness)
    fault = report.fault
    assert fault is not None
    assert fault.kind == FaultKind.edited
    assert fault.index == 23
    assert fault.record_id == _record_id(log, 23)


@pytest.mark.parametrize("witness", [True, False])
def test_a_deleted_record_is_named_as_missing(log: drill.Log, witness: bool) -> None:
    """Deleting record 12 names log index 12 as missing."""
    fault = _verify(drill.delete(log, 12), witness).fault
    assert fault is not None
    assert fault.kind == FaultKind.missing
    assert fault.index == 12


def test_deleting_the_last_record_before_a_checkpoint_is_missing(log: drill.Log) -> None:
    """Record 9 is the last the first checkpoint covers; without it the checkpoint overreaches."""
    fault = _verify(drill.delete(log, 9), witness=False).fault
    assert fault is not None
    assert fault.kind == FaultKind.missing
    assert fault.index == 9


@pytest.mark.parametrize("witness", [True, False])
def test_two_swapped_records_are_named_as_reordered(log: drill.Log, witness: bool) -> None:
    """Swapping records 31 and 32 names record 31."""
    fault = _verify(drill.swap(log, 31, 32), witness).fault
    assert fault is not None
    assert fault.kind == FaultKind.reordered
    assert fault.index == 31
    assert fault.record_id == _record_id(log, 32)  # what now sits at 31


def test_a_record_moved_further_is_named_as_reordered(log: drill.Log) -> None:
    """Swapping records 2 and 7 (not neighbours) is still a reordering at 2."""
    fault = _verify(drill.swap(log, 2, 7)).fault
    assert fault is not None
    assert fault.kind == FaultKind.reordered
    assert fault.index == 2


def test_a_truncated_tail_is_caught_by_the_witness(log: drill.Log) -> None:
    """Cutting the topic after 25 records (and the checkpoints after them) is truncation."""
    fault = _verify(drill.truncate(log, 25)).fault
    assert fault is not None
    assert fault.kind == FaultKind.truncated
    assert fault.index == 25


def test_truncation_without_a_witness_goes_unnoticed_by_design(log: drill.Log) -> None:
    """Why the witness exists: a topic cut with its checkpoints looks whole on its own."""
    report = _verify(drill.truncate(log, 30), witness=False)
    assert report.ok
    assert report.records == 30


@pytest.mark.parametrize("claim", [True, False])
def test_a_checkpoint_resigned_with_another_key_is_a_bad_signature(
    log: drill.Log, claim: bool
) -> None:
    """Re-signing checkpoint 2 with another key is named, with the checkpoint's offset."""
    tampered = drill.resign(log, 2, OTHER, claim=claim)
    fault = _verify(tampered, witness=False).fault
    assert fault is not None
    assert fault.kind == FaultKind.bad_signature
    offsets = [e.offset for e in log.entries if e.is_checkpoint]
    assert fault.checkpoint_offset == offsets[2]
    assert fault.index is None


def test_a_history_resealed_with_the_real_key_is_a_fork(log: drill.Log) -> None:
    """Rewriting record 14 and re-sealing everything: the witness shows two signed histories."""
    forked = drill.fork(log, 14, KEY)
    assert _verify(forked, witness=False).ok  # self-consistent on its own
    fault = _verify(forked).fault
    assert fault is not None
    assert fault.kind == FaultKind.forked
    assert fault.index == 14
    assert fault.record_id == _record_id(log, 14)


def test_two_checkpoints_of_one_size_with_different_roots_are_a_fork(log: drill.Log) -> None:
    """A second, validly signed checkpoint for size 10 over another history is a fork."""
    other_tree = MerkleTree()
    for i in range(10):
        other_tree.append(drill.record_value(1000 + i))
    rogue = sign(
        KEY,
        origin=drill.ORIGIN,
        tree_size=10,
        root=other_tree.root(),
        when=drill.T0,
        hints_from=0,
        added_leaf_hashes=[other_tree.leaf(i) for i in range(10)],
    )
    entries = [*log.entries, Entry(99_999, CHECKPOINT_TYPE, rogue.to_json())]
    fault = verify_log(entries, TRUSTED, drill.ORIGIN).fault
    assert fault is not None
    assert fault.kind == FaultKind.forked
    assert fault.index == 0
    assert fault.checkpoint_offset == 99_999


def test_a_checkpoint_for_another_log_is_rejected(log: drill.Log) -> None:
    """A genuine checkpoint replayed from another log (other origin) is not accepted."""
    report = verify_log(log.entries, TRUSTED, "another/audit")
    assert report.fault is not None
    assert report.fault.kind == FaultKind.malformed
    assert "another/audit" in report.fault.detail


def test_a_forged_witness_copy_is_a_bad_signature(log: drill.Log) -> None:
    """The witness file is checked too: a copy not signed by a trusted key is named."""
    bad = dataclasses.replace(log.witness[1], root_hash="0" * 64)
    report = verify_log(log.entries, TRUSTED, drill.ORIGIN, [log.witness[0], bad])
    assert report.fault is not None
    assert report.fault.kind == FaultKind.bad_signature


def test_fault_message_names_kind_record_and_offset(log: drill.Log) -> None:
    """The text an operator reads says what and where."""
    fault = _verify(drill.edit_byte(log, 5)).fault
    assert fault is not None
    text = str(fault)
    assert text.startswith("edited: record #5, offset 5, record_id ")


def test_checkpoint_round_trips_through_its_topic_bytes(log: drill.Log) -> None:
    """What the sealer puts on the topic parses back into the same checkpoint."""
    first = next(e for e in log.entries if e.is_checkpoint)
    assert Checkpoint.from_json(first.value) == log.witness[0]


def test_the_sealer_seals_on_time_as_well_as_on_count() -> None:
    """With fewer than N new records, a checkpoint is still due after T seconds."""
    sealer = Sealer(KEY, drill.ORIGIN, every=100, interval=timedelta(seconds=5))
    assert not sealer.due(drill.T0)
    sealer.add(Entry(0, "no.oslo.broker.audit-record.v1", drill.record_value(0)))
    assert sealer.due(drill.T0)  # nothing sealed yet: seal at once
    cp = sealer.seal(drill.T0)
    assert cp.tree_size == 1
    assert not sealer.due(drill.T0 + timedelta(seconds=60))
    sealer.add(Entry(1, "no.oslo.broker.audit-record.v1", drill.record_value(1)))
    assert not sealer.due(drill.T0 + timedelta(seconds=4))
    assert sealer.due(drill.T0 + timedelta(seconds=5))


def test_the_sealer_refuses_to_seal_over_a_tampered_log(log: drill.Log) -> None:
    """A restarted sealer re-reads the topic; an edited record stops it before it signs."""
    sealer = Sealer(KEY, drill.ORIGIN, witness=log.witness)
    entries = drill.edit_byte(log, 3).entries
    for entry in entries[:10]:  # records 0..9; the first checkpoint follows them
        sealer.add(entry)  # nothing is known to be wrong until the checkpoint arrives
    with pytest.raises(AuditError, match="edited: record #3"):
        sealer.add(entries[10])


def test_a_restarted_sealer_continues_where_the_topic_left_off(log: drill.Log) -> None:
    """After re-reading a sealed topic nothing is pending; new records are sealed from there."""
    sealer = Sealer(KEY, drill.ORIGIN, every=10, witness=log.witness)
    for entry in log.entries:
        sealer.add(entry)
    assert sealer.pending == 0
    sealer.add(Entry(500, "no.oslo.broker.audit-record.v1", drill.record_value(500)))
    cp = sealer.seal(drill.T0)
    assert (cp.hints_from, cp.tree_size) == (N, N + 1)


# --- strict verification: what proves nothing fails ------------------------------------------


def _strip_checkpoints(log: drill.Log) -> drill.Log:
    return drill.Log(drill.records(log), log.witness)


@pytest.mark.parametrize("witness", [True, False])
def test_a_log_whose_checkpoints_were_stripped_fails(log: drill.Log, witness: bool) -> None:
    """Records and no checkpoint on the log: no-checkpoints, even when the witness vouches."""
    fault = _verify(_strip_checkpoints(log), witness).fault
    assert fault is not None
    assert fault.kind == FaultKind.no_checkpoints
    if not witness:
        assert (fault.index, fault.offset) == (0, 0)
        assert fault.record_id == _record_id(log, 0)


def test_a_forged_record_after_the_last_checkpoint_is_named(log: drill.Log) -> None:
    """Someone appends a record after the sealer's last checkpoint: unsealed-records, named."""
    forged = drill.record_value(7, recipient="someone-else")
    entries = [*log.entries, Entry(log.entries[-1].offset + 1, RECORD_TYPE, forged)]
    fault = verify_log(entries, TRUSTED, drill.ORIGIN, log.witness).fault
    assert fault is not None
    assert fault.kind == FaultKind.unsealed
    assert fault.index == N
    assert fault.offset == log.entries[-1].offset + 1
    assert "1 record(s) after checkpoint 47" in fault.detail


def test_a_required_witness_that_is_missing_or_empty_fails(log: drill.Log) -> None:
    """witness=None (no file) is witness-missing, an empty witness witness-empty; not required,
    either passes; an empty log needs no witness."""
    missing = verify_log(log.entries, TRUSTED, drill.ORIGIN, None, require_witness=True).fault
    assert missing is not None
    assert missing.kind == FaultKind.witness_missing
    empty = verify_log(log.entries, TRUSTED, drill.ORIGIN, [], require_witness=True).fault
    assert empty is not None
    assert empty.kind == FaultKind.witness_empty
    assert verify_log(log.entries, TRUSTED, drill.ORIGIN, None).ok
    assert verify_log([], TRUSTED, drill.ORIGIN, None, require_witness=True).ok


def test_witness_copies_out_of_order_are_malformed(log: drill.Log) -> None:
    """The witness is read lazily, in tree-size order: a file out of order is refused."""
    shuffled = [log.witness[1], log.witness[0], *log.witness[2:]]
    fault = verify_log(log.entries, TRUSTED, drill.ORIGIN, shuffled).fault
    assert fault is not None
    assert fault.kind == FaultKind.malformed
    assert "out of order" in fault.detail


def test_a_checkpoint_over_a_different_root_is_named(log: drill.Log) -> None:
    """A checkpoint whose root was replaced (and re-signed by another key) is a bad signature;
    the same forgery with the real key over fake hints names the record the hints disagree on."""
    topic = [p for p, e in enumerate(log.entries) if e.is_checkpoint]
    cp = Checkpoint.from_json(log.entries[topic[1]].value)
    added = [leaf_hash(e.value) for e in drill.records(log)[cp.hints_from : cp.tree_size]]
    added[1] = bytes(32)  # record 11's hint no longer matches
    forged = sign(
        KEY,
        origin=cp.origin,
        tree_size=cp.tree_size,
        root=bytes(32),
        when=drill.T0,
        hints_from=cp.hints_from,
        added_leaf_hashes=added,
    )
    entries = list(log.entries)
    entries[topic[1]] = dataclasses.replace(entries[topic[1]], value=forged.to_json())
    fault = verify_log(entries, TRUSTED, drill.ORIGIN).fault
    assert fault is not None
    assert fault.kind == FaultKind.edited
    assert fault.index == 11


# --- bounded memory --------------------------------------------------------------------------


def test_memory_held_does_not_grow_with_the_log() -> None:
    """With a checkpoint every 10 records, about 20 leaves are held however long the log; with
    none, no more than the window."""
    big = drill.build(2000, KEY, every=10)
    v = Verifier(TRUSTED, drill.ORIGIN, big.witness)
    peak = 0
    for e in big.entries:
        assert v.add(e) is None
        peak = max(peak, v.held)
    assert v.finish().ok
    assert peak <= 2 * 10 + 1
    v = Verifier(TRUSTED, drill.ORIGIN, allow_unsealed=True, window=64)
    for e in drill.records(big):
        v.add(e)
        assert v.held <= 64
    assert v.finish().fault is not None  # no checkpoints at all


@pytest.mark.parametrize(
    ("tamper", "kind", "now_there"),
    [
        (lambda g: drill.edit_byte(g, 5), FaultKind.edited, 5),
        (lambda g: drill.delete(g, 5), FaultKind.missing, 6),
        (lambda g: drill.swap(g, 5, 6), FaultKind.reordered, 6),
    ],
)
def test_a_fault_in_leaves_no_longer_held_is_named_by_a_second_pass(
    tamper: object, kind: FaultKind, now_there: int
) -> None:
    """One checkpoint over 300 records and a window of 32 leaves: the first pass knows only that
    the root differs; re-reading the log, holding the range it names, finds the record."""
    long_span = drill.build(300, KEY, every=300)
    tampered = tamper(long_span)  # type: ignore[operator]
    first = Verifier(TRUSTED, drill.ORIGIN, window=32)
    for e in tampered.entries:
        if first.add(e):
            break
    fault = first.finish().fault
    assert fault is not None
    assert fault.index is None
    assert fault.recheck is not None
    report = verify_log(tampered.entries, TRUSTED, drill.ORIGIN, window=32)
    assert report.fault is not None
    assert (report.fault.kind, report.fault.index) == (kind, 5)
    assert report.fault.record_id == _record_id(long_span, now_there)  # what sits at #5 now
