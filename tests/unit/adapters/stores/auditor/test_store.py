"""The auditor store (SQLite): tamper drills, queries checked against the bytes, column faults."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from broker.adapters.stores.auditor import AuditStore, Filters, StoreTampered
from broker.core.audit.events import CHECKPOINT_TYPE, RECORD_TYPE, canonical
from broker.core.audit.faults import FaultKind
from broker.core.audit.verify import verify_log
from broker.testing import audit as drill
from tests.conftest import ROOT
from tests.unit.adapters.stores.auditor.conftest import (
    KEY,
    OTHER,
    TRUSTED,
    forge_recipient,
    store_with,
)

Drill = Callable[[AuditStore], None]


@pytest.mark.parametrize(
    ("tamper", "kind", "index"),
    [
        (lambda s: drill.store_edit_byte(s, 17), FaultKind.edited, 17),
        (lambda s: drill.store_delete(s, 4), FaultKind.missing, 4),
        (lambda s: drill.store_swap(s, 25, 26), FaultKind.reordered, 25),
        (lambda s: drill.store_truncate(s, 22), FaultKind.truncated, 22),
        (lambda s: drill.store_resign(s, 1, OTHER), FaultKind.bad_signature, None),
    ],
    ids=["edit-byte", "delete", "swap", "truncate", "resign"],
)
def test_tampering_with_the_store_is_detected_and_named(
    store: AuditStore, log: drill.Log, tamper: Drill, kind: FaultKind, index: int | None
) -> None:
    """Each drill on the stored rows is caught when the store is verified, and names the record."""
    tamper(store)
    fault = verify_log(store.entries(), TRUSTED, drill.ORIGIN, log.witness).fault
    assert fault is not None
    assert fault.kind == kind
    assert fault.index == index


def test_a_rewritten_and_resealed_store_is_a_fork(store: AuditStore, log: drill.Log) -> None:
    """Someone with the sealing key rewrites record 8 and re-seals: the witness shows the fork."""
    drill.store_replace(store, drill.fork(log, 8, KEY))
    fault = verify_log(store.entries(), TRUSTED, drill.ORIGIN, log.witness).fault
    assert fault is not None
    assert (fault.kind, fault.index) == (FaultKind.forked, 8)


def test_query_filters_by_recipient_decision_and_time(tmp_path: Path) -> None:
    """Only records matching every filter come back, oldest first."""
    values = [drill.record_value(i, "school" if i % 2 else "salto") for i in range(8)]
    with store_with(tmp_path, values) as s:
        school = s.query(Filters(recipient="school"))
        assert [d["record_id"] for d in school] == [f"{i:032x}" for i in (1, 3, 5, 7)]
        since = drill.T0 + timedelta(seconds=3)
        until = drill.T0 + timedelta(seconds=6)
        ranged = s.query(Filters(recipient="school", since=since, until=until, decision="deliver"))
        assert [d["record_id"] for d in ranged] == [f"{i:032x}" for i in (3, 5)]
        assert s.query(Filters(decision="deny")) == []
        assert len(s.query(Filters(legal_basis="politiregisterloven-24"))) == 8


def test_query_filters_by_organisation_and_a_forged_one_is_named(tmp_path: Path) -> None:
    """Two schools fill the same role: the organisation tells their records apart, and a row
    whose organisation column was edited to the other school is named, never returned."""
    values = [
        drill.record_value(i, "school", "skole-9002" if i % 2 else "skole-9003") for i in range(6)
    ]
    with store_with(tmp_path, values) as s:
        mine = s.query(Filters(organisation="skole-9002"))
        assert [d["record_id"] for d in mine] == [f"{i:032x}" for i in (1, 3, 5)]
        assert len(s.query(Filters(recipient="school", organisation="skole-9003"))) == 3
        drill.store_edit_column(s, 2, "organisation", "skole-9002")
        assert [(t.index, t.columns) for t in s.column_faults()] == [(2, ("organisation",))]
        forged = s.query(Filters(organisation="skole-9002"))
        assert [d["record_id"] for d in forged] == [f"{i:032x}" for i in (1, 3, 5)]
        assert [t.index for t in forged.tampered] == [2]


def test_a_bad_limit_is_refused(store: AuditStore) -> None:
    """limit=-1 would mean no limit to SQLite: refused."""
    with pytest.raises(ValueError, match="limit"):
        store.query(Filters(limit=-1))
    assert len(store.query(Filters(limit=3))) == 3


def test_an_edited_index_column_is_named_by_the_column_check(tmp_path: Path) -> None:
    """The bytes still verify, but the column check names record #6 and the recipient column."""
    s, log = forge_recipient(tmp_path)
    with s:
        assert verify_log(s.entries(), TRUSTED, drill.ORIGIN, log.witness).ok
        faults = s.column_faults()
        assert [(t.index, t.columns, t.record_id) for t in faults] == [
            (6, ("recipient",), f"{6:032x}")
        ]
        assert "record #6" in str(faults[0])
        assert "salto" not in str(faults[0])  # names the column, never the value


def test_queries_and_stats_do_not_report_a_forged_column_as_fact(tmp_path: Path) -> None:
    """Querying for the forged value finds no record, only the tampered row; stats count what
    the bytes say; a record lookup of the forged row refuses."""
    s, _ = forge_recipient(tmp_path)
    with s:
        salto = s.query(Filters(recipient="salto"))
        assert list(salto) == []
        assert [t.index for t in salto.tampered] == [6]
        school = s.query(Filters(recipient="school"))
        assert len(school) == 9
        assert all(d["recipient"] == "school" for d in school)
        stats = s.stats()
        assert stats["by_recipient"] == [("school", "deliver", 10)]
        assert [t.index for t in stats["tampered"]] == [6]
        assert {r for _, r, _, _ in s.disclosures_by_day()} == {"school"}
        with pytest.raises(StoreTampered, match="record #6"):
            s.record(f"{6:032x}")
        assert s.record(f"{5:032x}") is not None


def test_an_untouched_store_has_no_column_faults(store: AuditStore) -> None:
    assert store.column_faults() == []
    assert store.stats()["tampered"] == []


def test_a_message_that_is_not_an_audit_record_is_not_indexed_as_one(tmp_path: Path) -> None:
    """A value shaped almost like a decision (a field missing) is kept and sealed, named by its
    record id, but no query finds it by what it claims and the stats count it by its type."""
    claims = canonical({"record_id": "x", "event": "decision", "recipient": "salto"})
    with store_with(tmp_path, [drill.record_value(0), claims]) as s:
        assert s.query(Filters(recipient="salto")) == []
        assert s.column_faults() == []
        stats = s.stats()
        assert dict(stats["by_event"]) == {"decision": 1, RECORD_TYPE: 1, CHECKPOINT_TYPE: 1}
        assert s.record("x") is not None  # found by its record id, for naming it


def test_verify_from_store_fails_naming_a_row_with_a_forged_column(tmp_path: Path) -> None:
    """`broker audit verify --from store` exits 1 naming record #6 and the column."""
    prefix = "cli-test."
    origin = f"oslo-share-broker/{prefix}audit"
    log = drill.seal_all([drill.record_value(i) for i in range(10)], KEY, every=5, origin=origin)
    where = tmp_path / "audit.sqlite"
    with AuditStore.open(where) as s:
        s.add(log.entries)
    witness = tmp_path / "witness.jsonl"
    witness.write_bytes(b"".join(c.to_json() + b"\n" for c in log.witness))
    pub = tmp_path / "pub.pem"
    pub.write_bytes(
        KEY.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )

    def run() -> subprocess.CompletedProcess[str]:
        args = ["audit", "verify", "--from", "store", "--store", str(where)]
        args += ["--witness", str(witness), "--trust", str(pub), "--no-writers"]  # unsigned drill
        return subprocess.run(
            [sys.executable, "-m", "broker", *args],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={
                **os.environ,
                "COLUMNS": "200",
                "BROKER_TOPIC_PREFIX": prefix,
                "BROKER_STATE_DIR": str(tmp_path),
            },
            check=False,
            timeout=60,
        )

    ok = run()
    assert ok.returncode == 0, ok.stderr
    with AuditStore.open(where) as s:
        drill.store_edit_column(s, 6, "recipient", "salto")
    bad = run()
    assert bad.returncode == 1
    assert "column-mismatch: record #6" in bad.stderr
    assert "recipient" in bad.stderr
    assert "salto" not in bad.stderr + bad.stdout
