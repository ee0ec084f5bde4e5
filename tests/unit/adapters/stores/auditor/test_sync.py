"""Syncer: idempotent sync, verification as it goes, re-verifying what is stored."""

from __future__ import annotations

from pathlib import Path

from broker.adapters.stores.auditor import AuditStore, Syncer
from broker.core.audit.events import canonical, record_id_of
from broker.core.audit.faults import FaultKind
from broker.core.audit.verify import verify_log
from broker.testing import audit as drill
from tests.unit.adapters.stores.auditor.conftest import KEY, TRUSTED


def test_a_synced_store_holds_every_message_byte_for_byte(
    store: AuditStore, log: drill.Log
) -> None:
    """Records and checkpoints, in offset order, values unchanged: the leaves can be recomputed."""
    assert list(store.entries()) == log.entries
    assert verify_log(store.entries(), TRUSTED, drill.ORIGIN, log.witness).ok


def test_syncing_again_adds_nothing(store: AuditStore, log: drill.Log) -> None:
    """Re-running sync over messages already stored is a no-op (idempotent)."""
    syncer = Syncer(store, TRUSTED, drill.ORIGIN, log.witness)
    assert syncer.check_stored() is None
    assert syncer.add(log.entries) is None
    assert syncer.written == 0
    assert store.count() == len(log.entries)
    assert store.next_offset() == log.entries[-1].offset + 1


def test_sync_stops_at_the_first_inconsistency_and_writes_nothing_after(
    tmp_path: Path, log: drill.Log
) -> None:
    """A tampered topic: sync stops at the checkpoint that exposes it, naming record 13."""
    tampered = drill.edit_byte(log, 13)
    with AuditStore.open(tmp_path / "s.sqlite") as s:
        syncer = Syncer(s, TRUSTED, drill.ORIGIN, log.witness)
        fault = syncer.add(tampered.entries)
        assert fault is not None
        assert (fault.kind, fault.index) == (FaultKind.edited, 13)
        assert s.next_offset() == 21  # records 0..19 and checkpoint 10; not checkpoint 20


def test_the_next_sync_refuses_a_tampered_store(store: AuditStore, log: drill.Log) -> None:
    """Sync re-verifies what is stored before adding to it."""
    drill.store_swap(store, 3, 4)
    fault = Syncer(store, TRUSTED, drill.ORIGIN, log.witness).check_stored()
    assert fault is not None
    assert (fault.kind, fault.index) == (FaultKind.reordered, 3)


def test_unreadable_record_is_stored_and_still_verifies(tmp_path: Path) -> None:
    """A value that is not JSON is kept byte for byte (nothing dropped) and is still a leaf."""
    values = [drill.record_value(0), b"\xff not json", canonical({"record_id": "x"})]
    log = drill.seal_all(values, KEY, every=10)
    with AuditStore.open(tmp_path / "u.sqlite") as s:
        assert Syncer(s, TRUSTED, drill.ORIGIN, log.witness).add(log.entries) is None
        assert verify_log(s.entries(), TRUSTED, drill.ORIGIN, log.witness).ok
        assert record_id_of(list(s.entries())[2].value) == "x"
