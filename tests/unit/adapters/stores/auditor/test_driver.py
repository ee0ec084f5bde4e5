"""AuditStore over the Driver interface: every statement in the driver's SQL, whatever it is."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from broker.adapters.stores.auditor import AuditStore, Driver, Filters, Syncer
from broker.adapters.stores.auditor import store as store_module
from broker.adapters.stores.auditor.columns import SCHEMA, derive
from broker.adapters.stores.auditor.sqlite import SQLite
from broker.core.audit.events import RECORD_TYPE, Entry
from broker.core.audit.verify import verify_log
from broker.testing import audit as drill
from tests.unit.adapters.stores.auditor.conftest import KEY, TRUSTED


class _Cursor:
    def __init__(self, conn: _PercentMarks) -> None:
        self.conn = conn

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any:
        return self.conn.db.executemany(self.conn.untranslated(sql), rows)


class _PercentMarks:
    """A SQLite connection that takes psycopg's ``%s`` marks and refuses SQLite's own, so a
    statement that did not go through ``Driver.sql`` fails as it would on PostgreSQL."""

    def __init__(self) -> None:
        self.db = sqlite3.connect(":memory:")

    def untranslated(self, sql: str) -> str:
        assert "?" not in sql, f"not in the driver's SQL: {sql}"
        return sql.replace("%s", "?")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.db.execute(self.untranslated(sql), params)

    def cursor(self) -> _Cursor:
        return _Cursor(self)

    def commit(self) -> None:
        self.db.commit()

    def rollback(self) -> None:
        self.db.rollback()

    def close(self) -> None:
        self.db.close()


class _PercentDriver:
    blob = "OCTETS"  # SQLite takes any type name: this one shows the driver's is used
    where = "memory (percent marks)"

    def __init__(self) -> None:
        self.conn = _PercentMarks()

    def sql(self, sql: str) -> str:
        return sql.replace("?", "%s")


def test_every_statement_the_store_runs_is_in_the_driver_s_sql() -> None:
    """Sync, queries, summaries and meta all pass their SQL through the driver."""
    driver: Driver = _PercentDriver()
    log = drill.build(12, KEY, every=5)
    with AuditStore(driver) as s:
        assert Syncer(s, TRUSTED, drill.ORIGIN, log.witness).add(log.entries) is None
        s.set_meta("origin", drill.ORIGIN)
        assert s.meta("origin") == drill.ORIGIN
        assert (s.count(), s.next_offset()) == (len(log.entries), len(log.entries))
        assert list(s.entries()) == log.entries
        assert len(s.checkpoints()) == len(log.witness)
        assert len(s.query(Filters(recipient="school", since=drill.T0, limit=4))) == 4
        assert s.record(f"{3:032x}") is not None
        assert s.stats()["entries"] == len(log.entries)
        assert (s.pending_reviews(), s.access_log(), s.column_faults()) == ([], [], [])
        assert s.disclosures_by_day() == [("2026-11-26", "school", "politiregisterloven-24", 12)]
        assert s.where == "memory (percent marks)"
        (ddl,) = s.execute("SELECT sql FROM sqlite_master WHERE name = 'audit_entries'").fetchone()
        assert "value            OCTETS NOT NULL" in ddl


def test_sqlite_keeps_its_own_marks() -> None:
    driver = SQLite(sqlite3.connect(":memory:"), ":memory:")
    assert driver.sql("SELECT ? + ?") == "SELECT ? + ?"
    assert driver.blob == "BLOB"


def test_a_store_from_before_headers_were_kept_gains_the_column(tmp_path: Path) -> None:
    """An old store (the table without its headers column) opens; what is written after that
    keeps its headers."""
    old = SCHEMA.format(blob="BLOB").replace(",\n    headers          TEXT\n", "\n")
    assert "headers" not in old
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(old)
    db.close()
    entry = Entry(0, RECORD_TYPE, drill.record_value(0), (("ce_id", b"x"),))
    with AuditStore.open(path) as s:
        assert s.add([entry]) == 1
        assert list(s.entries()) == [entry]


def _old_store(path: Path) -> drill.Log:
    """A sealed SQLite store of records from every version, as it was before the organisation
    column: the column and its index dropped."""
    log = drill.seal_all(drill.values_across_versions(), KEY, every=2)
    with AuditStore.open(path) as s:
        assert Syncer(s, TRUSTED, drill.ORIGIN, log.witness).add(log.entries) is None
        drill.store_before_organisations(s)
        columns = [r[1] for r in s.execute("PRAGMA table_info(audit_entries)").fetchall()]
        assert "organisation" not in columns
    return log


def test_a_store_from_before_organisations_were_indexed_gains_the_column(tmp_path: Path) -> None:
    """The old store opens with the column filled from each row's bytes: the column check finds
    no old row tampered, the log still verifies, and the organisation selects and joins."""
    path = tmp_path / "old.sqlite"
    log = _old_store(path)
    with AuditStore.open(path) as s:
        assert s.column_faults() == []
        assert verify_log(s.entries(), TRUSTED, drill.ORIGIN, log.witness).ok
        assert drill.organisations_after_migration(s) == (["d-2"], True)
        (plan,) = s.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM audit_entries WHERE organisation = 'x'"
        ).fetchall()
        assert "audit_entries_organisation" in plan[-1]
    with AuditStore.open(path) as s:  # opened again: nothing more to do
        assert s.column_faults() == []


def test_a_migration_that_fails_half_way_leaves_the_store_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The column and its values arrive together or not at all: a store left with the column
    but not its values would take every old decision for a tampered one."""
    path = tmp_path / "old.sqlite"
    _old_store(path)
    calls = []

    def failing(offset: int, ce_type: str, value: bytes) -> dict[str, Any]:
        calls.append(offset)
        if len(calls) > 2:
            raise RuntimeError("interrupted")
        return derive(offset, ce_type, value)

    monkeypatch.setattr(store_module, "derive", failing)
    with pytest.raises(RuntimeError, match="interrupted"):
        AuditStore.open(path)
    db = sqlite3.connect(path)
    assert "organisation" not in [r[1] for r in db.execute("PRAGMA table_info(audit_entries)")]
    db.close()
    monkeypatch.undo()
    with AuditStore.open(path) as s:
        assert s.column_faults() == []
        assert len(s.query(Filters(organisation="skole-9002"))) == 1
