"""The auditor store: the audit topic materialised into SQL, for queries and offline checks.

``AuditStore`` holds the queries, written once against a ``Driver`` (``driver.py``): SQLite by
default (``sqlite.py``) or PostgreSQL given a ``postgresql://`` URL (``postgres.py``). The store is
never trusted: ``entries()`` feeds the verifier, which recomputes every leaf from the stored
bytes, and the checkpoints are checked against a witness.

A query selects rows by their index columns, then derives every returned row's columns again
from its (verified) bytes; a row whose stored columns disagree is returned as ``Tampered``
(offset, record, the columns), never as data. Statistics, the review list, the access log, the
chart and the obligations' sources are computed from the bytes (a scan, ``summaries.py``), and
``column_faults()`` (``broker audit verify --from store``) lists every row whose columns
disagree with its bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from broker.adapters.stores.auditor import summaries
from broker.adapters.stores.auditor.columns import (
    COLUMNS,
    INDEXES,
    TABLES,
    Tampered,
    derive,
    disagreeing,
    document,
    headers_of,
    headers_text,
    row_of,
)
from broker.adapters.stores.auditor.driver import Connection, Driver
from broker.adapters.stores.auditor.filters import Filters
from broker.adapters.stores.auditor.postgres import PostgreSQL, is_url
from broker.adapters.stores.auditor.sqlite import SQLite
from broker.core.audit.access import Access
from broker.core.audit.checkpoint import Checkpoint
from broker.core.audit.errors import AuditError
from broker.core.audit.events import CHECKPOINT_TYPE, Entry


class Rows(list[dict[str, Any]]):
    """Query results: documents whose columns agree with their bytes; ``tampered`` the rest."""

    def __init__(self, docs: Iterable[dict[str, Any]] = (), tampered: Iterable[Tampered] = ()):
        super().__init__(docs)
        self.tampered = list(tampered)


class StoreTampered(AuditError):
    """A row needed for an answer disagrees with its record bytes."""

    def __init__(self, tampered: Sequence[Tampered]) -> None:
        self.tampered = list(tampered)
        super().__init__("; ".join(str(t) for t in tampered))


class AuditStore:
    """One auditor store on one driver. Methods speak plain values, never Kafka."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        try:
            self._create()
        except BaseException:
            self.close()  # an unfinished migration is rolled back, its locks released
            raise

    @classmethod
    def open(cls, target: str | Path) -> AuditStore:
        """``postgresql://…`` opens PostgreSQL; anything else is a SQLite file path."""
        text = str(target)
        driver: Driver = PostgreSQL.open(text) if is_url(text) else SQLite.open(Path(text))
        return cls(driver)

    @property
    def conn(self) -> Connection:
        return self.driver.conn

    @property
    def where(self) -> str:
        """Where the store is, fit for messages (a PostgreSQL URL without its password)."""
        return self.driver.where

    def __enter__(self) -> AuditStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run ``sql`` written with SQLite's ``?`` marks on whichever database this is."""
        return self.conn.execute(self.driver.sql(sql), params)

    def _create(self) -> None:
        """Create the tables a new database lacks; an existing store keeps its rows and gains
        the columns added since it was made, then every index."""
        self._statements(TABLES.format(blob=self.driver.blob))
        if not self._has_column("headers"):  # before messages kept their writers' signatures
            self.execute("ALTER TABLE audit_entries ADD COLUMN headers TEXT")
            self.conn.commit()
        if not self._has_column("organisation"):  # before records' organisations were indexed
            self._add_organisation()
        self._statements(INDEXES)

    def _statements(self, script: str) -> None:
        for statement in script.split(";"):
            if statement.strip():
                self.execute(statement)
        self.conn.commit()

    def _has_column(self, name: str) -> bool:
        try:
            self.execute(f"SELECT {name} FROM audit_entries LIMIT 0")  # noqa: S608 (our names)
        except Exception:
            self.conn.rollback()
            return False
        return True

    def _add_organisation(self, batch: int = 5000) -> None:
        """Add the organisation column and fill it from each stored row's bytes, as ``row_of``
        would have, so that the column check does not take the old rows for tampered ones.

        One transaction: SQLite runs an ALTER TABLE outside one on its own, and a store left
        with the column but not its values would report every old decision as tampered."""
        self.execute("SAVEPOINT add_organisation")
        self.execute("ALTER TABLE audit_entries ADD COLUMN organisation TEXT")
        update = self.driver.sql("UPDATE audit_entries SET organisation = ? WHERE kafka_offset = ?")
        rows: list[tuple[str, int]] = []
        for e in self.entries():
            organisation = derive(e.offset, e.ce_type, e.value)["organisation"]
            if organisation is not None:
                rows.append((organisation, e.offset))
            if len(rows) >= batch:
                self.conn.cursor().executemany(update, rows)
                rows = []
        if rows:
            self.conn.cursor().executemany(update, rows)
        self.execute("RELEASE SAVEPOINT add_organisation")
        self.conn.commit()

    # --- meta --------------------------------------------------------------------------------

    def meta(self, name: str) -> str | None:
        row = self.execute("SELECT value FROM audit_meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, name: str, value: str) -> None:
        self.execute(
            "INSERT INTO audit_meta (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    # --- the log -----------------------------------------------------------------------------

    def next_offset(self) -> int:
        row = self.execute("SELECT MAX(kafka_offset) FROM audit_entries").fetchone()
        return 0 if row is None or row[0] is None else int(row[0]) + 1

    def count(self) -> int:
        return int(self.execute("SELECT COUNT(*) FROM audit_entries").fetchone()[0])

    def entries(self, batch: int = 5000) -> Iterator[Entry]:
        """Every stored message in offset order, in pages (memory stays flat)."""
        last = -1
        while True:
            rows = self.execute(
                "SELECT kafka_offset, ce_type, value, headers FROM audit_entries "
                "WHERE kafka_offset > ? ORDER BY kafka_offset LIMIT ?",
                (last, batch),
            ).fetchall()
            if not rows:
                return
            for offset, ce_type, value, headers in rows:
                yield Entry(int(offset), str(ce_type), bytes(value), headers_of(headers))
            last = int(rows[-1][0])

    def _stored_rows(
        self, where: str = "", params: Sequence[Any] = (), batch: int = 2000
    ) -> Iterator[dict[str, Any]]:
        """Stored rows (every column) in offset order, in pages."""
        last = -1
        while True:
            rows = self.execute(
                f"SELECT {', '.join(COLUMNS)} FROM audit_entries "  # noqa: S608
                f"WHERE kafka_offset > ?{where} ORDER BY kafka_offset LIMIT ?",
                (last, *params, batch),
            ).fetchall()
            if not rows:
                return
            for row in rows:
                yield dict(zip(COLUMNS, row, strict=True))
            last = int(rows[-1][0])

    def scan(self) -> Iterator[tuple[dict[str, Any], Tampered | None]]:
        """Every row as derived from its bytes, with a Tampered if its stored columns differ."""
        index = 0
        for stored in self._stored_rows():
            derived, bad = disagreeing(stored)
            checkpoint = derived["ce_type"] == CHECKPOINT_TYPE
            tampered = None
            if bad:
                tampered = Tampered(
                    int(derived["kafka_offset"]),
                    bad,
                    None if checkpoint else index,
                    derived["record_id"],
                )
            if not checkpoint:
                index += 1
            yield derived, tampered

    def column_faults(self) -> list[Tampered]:
        """Every row whose stored columns disagree with its record bytes, in offset order."""
        return [t for _, t in self.scan() if t is not None]

    def _tampered(self, stored: Mapping[str, Any], bad: tuple[str, ...]) -> Tampered:
        offset = int(stored["kafka_offset"])
        derived = derive(offset, str(stored["ce_type"]), bytes(stored["value"]))
        if derived["ce_type"] == CHECKPOINT_TYPE:
            return Tampered(offset, bad)
        before = self.execute(
            "SELECT COUNT(*) FROM audit_entries WHERE ce_type <> ? AND kafka_offset < ?",
            (CHECKPOINT_TYPE, offset),
        ).fetchone()[0]
        return Tampered(offset, bad, int(before), derived["record_id"])

    def _checked(self, sql: str, params: Sequence[Any]) -> Rows:
        """Rows the column filter ``sql`` selects, each checked against its bytes."""
        docs, tampered = [], []
        for row in self.execute(sql, params).fetchall():
            stored = dict(zip(COLUMNS, row, strict=True))
            _, bad = disagreeing(stored)
            if bad:
                tampered.append(self._tampered(stored, bad))
            else:
                docs.append(document(stored["kafka_offset"], stored["value"]))
        return Rows(docs, tampered)

    def add(self, entries: Iterable[Entry]) -> int:
        """Insert messages not stored yet (by offset) and commit; return how many were new."""
        rows = [(*row_of(e), headers_text(e.headers)) for e in entries]
        if not rows:
            return 0
        before = self.count()
        columns = (*COLUMNS, "headers")
        marks = ", ".join("?" * len(columns))
        sql = self.driver.sql(
            f"INSERT INTO audit_entries ({', '.join(columns)}) VALUES ({marks}) "  # noqa: S608
            "ON CONFLICT (kafka_offset) DO NOTHING"
        )
        self.conn.cursor().executemany(sql, rows)
        self.conn.commit()
        return self.count() - before

    def checkpoints(self) -> list[Checkpoint]:
        """The checkpoints the store holds (those that parse), oldest first."""
        out = []
        for (value,) in self.execute(
            "SELECT value FROM audit_entries WHERE ce_type = ? ORDER BY kafka_offset",
            (CHECKPOINT_TYPE,),
        ).fetchall():
            try:
                out.append(Checkpoint.from_json(bytes(value)))
            except AuditError:
                continue
        return out

    # --- questions auditors ask --------------------------------------------------------------

    def query(self, f: Filters) -> Rows:
        """Audit events matching every given filter, oldest first, as their JSON documents.

        The filters select on the index columns; every selected row is then derived again from
        its bytes, and one whose columns disagree is in ``.tampered``, not among the results."""
        if f.limit is not None and f.limit < 1:
            raise ValueError("limit: must be at least 1")
        where, params = f.where()
        sql = (
            f"SELECT {', '.join(COLUMNS)} FROM audit_entries WHERE "  # noqa: S608
            + " AND ".join(where)
            + " ORDER BY kafka_offset"
            + (f" LIMIT {int(f.limit)}" if f.limit else "")
        )
        return self._checked(sql, params)

    def record(self, record_id: str) -> dict[str, Any] | None:
        """The first record with this id; StoreTampered if its row disagrees with its bytes."""
        rows = self._checked(
            f"SELECT {', '.join(COLUMNS)} FROM audit_entries WHERE record_id = ? "  # noqa: S608
            "AND ce_type <> ? ORDER BY kafka_offset LIMIT 1",
            (record_id, CHECKPOINT_TYPE),
        )
        if rows.tampered:
            raise StoreTampered(rows.tampered)
        return rows[0] if rows else None

    def _derived(self) -> Iterator[dict[str, Any]]:
        """Every audit event's columns as derived from its bytes (a scan; checkpoints left out)."""
        for row, _ in self.scan():
            if row["ce_type"] != CHECKPOINT_TYPE:
                yield row

    def pending_reviews(self) -> list[dict[str, Any]]:
        """Urgent disclosures (review_required) that no review event refers to yet."""
        return summaries.pending_reviews(self._derived())

    def obligation_sources(self) -> list[dict[str, Any]]:
        """Decisions that open a duty or answer a concern report, and the inform events, as
        their documents in log order (broker.core.audit.obligations follows them)."""
        return summaries.obligation_sources(self._derived())

    def access_log(
        self, recipient: str | None = None, organisation: str | None = None
    ) -> list[Access]:
        """Every delivery with when it was received and opened (receipts relayed to the log),
        joined on the organisation; of ``recipient`` (a role) and ``organisation`` if given."""
        return summaries.access_log(self._derived(), recipient, organisation)

    def disclosures_by_day(self) -> list[tuple[str, str, str, int]]:
        """(day, recipient, legal basis, deliveries) for the chart, oldest day first."""
        return summaries.disclosures_by_day(self._derived())

    def stats(self) -> dict[str, Any]:
        """Counts for the overview: by event, by recipient and decision, by legal basis.

        Computed from the record bytes (a scan), never from the index columns; ``tampered``
        lists the rows whose columns disagree with their bytes."""
        return summaries.stats(self.scan(), len(self.pending_reviews()))
