"""The auditor store on PostgreSQL: the same sync, queries and tamper drills as on SQLite."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.adapters.stores.auditor import AuditStore, Filters, Syncer
from broker.core.audit.checkpoint import trusted_keys
from broker.core.audit.faults import FaultKind
from broker.core.audit.verify import verify_log
from broker.testing import audit as drill
from tests.conftest import ROOT

pytestmark = pytest.mark.integration

POSTGRES_SH = ROOT / "deploy" / "postgres.sh"
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
TRUSTED = trusted_keys(KEY.public_key())


def _pg(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(POSTGRES_SH), command], check=False, capture_output=True, text=True
    )


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """The private test cluster (deploy/postgres.sh): started if not running, then stopped."""
    started = _pg("status").returncode != 0
    if started:
        result = _pg("start")
        assert result.returncode == 0, result.stderr
    yield _pg("url").stdout.strip()
    if started:
        _pg("stop")


@pytest.fixture
def pg_url(postgres: str) -> Iterator[str]:
    """A fresh, empty database for one test, dropped afterwards."""
    name = f"audit_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield postgres.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(postgres, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def log() -> drill.Log:
    return drill.build(35, KEY, every=10)


@pytest.fixture
def store(pg_url: str, log: drill.Log) -> Iterator[AuditStore]:
    with AuditStore.open(pg_url) as s:
        assert Syncer(s, TRUSTED, drill.ORIGIN, log.witness).add(log.entries) is None
        yield s


def test_sync_to_postgres_is_byte_exact_and_idempotent(store: AuditStore, log: drill.Log) -> None:
    """Values come back as stored; a second sync adds nothing."""
    assert list(store.entries()) == log.entries
    again = Syncer(store, TRUSTED, drill.ORIGIN, log.witness)
    assert again.check_stored() is None
    assert again.add(log.entries) is None
    assert again.written == 0
    assert store.where.startswith("postgresql://broker@")


def test_queries_work_on_postgres(store: AuditStore) -> None:
    """Filters and statistics use the same SQL on both databases."""
    assert len(store.query(Filters(recipient="school", limit=5))) == 5
    assert store.stats()["by_recipient"] == [("school", "deliver", 35)]


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
def test_tampering_with_postgres_is_detected_and_named(
    store: AuditStore,
    log: drill.Log,
    tamper: Callable[[AuditStore], None],
    kind: FaultKind,
    index: int | None,
) -> None:
    """Each drill on the PostgreSQL rows is caught and names the record."""
    tamper(store)
    fault = verify_log(store.entries(), TRUSTED, drill.ORIGIN, log.witness).fault
    assert fault is not None
    assert fault.kind == kind
    assert fault.index == index


def test_a_resealed_postgres_store_is_a_fork(store: AuditStore, log: drill.Log) -> None:
    """A rewritten, re-sealed history in PostgreSQL disagrees with the witness."""
    drill.store_replace(store, drill.fork(log, 30, KEY))
    fault = verify_log(store.entries(), TRUSTED, drill.ORIGIN, log.witness).fault
    assert fault is not None
    assert (fault.kind, fault.index) == (FaultKind.forked, 30)


def test_an_edited_recipient_column_on_postgres_is_caught(store: AuditStore) -> None:
    """Only the recipient column of record 6 changes: the column check names it, a query for the
    forged value returns no record, and the statistics count what the bytes say."""
    drill.store_edit_column(store, 6, "recipient", "salto")
    assert [(t.index, t.columns) for t in store.column_faults()] == [(6, ("recipient",))]
    forged = store.query(Filters(recipient="salto"))
    assert list(forged) == []
    assert [t.index for t in forged.tampered] == [6]
    assert store.stats()["by_recipient"] == [("school", "deliver", 35)]
    assert [t.index for t in store.stats()["tampered"]] == [6]


def test_a_postgres_store_from_before_organisations_were_indexed_gains_the_column(
    pg_url: str,
) -> None:
    """As on SQLite: the old store opens with the organisation column filled from each row's
    bytes, no old row reads as tampered, and the organisation selects and joins."""
    log = drill.seal_all(drill.values_across_versions(), KEY, every=2)
    with AuditStore.open(pg_url) as s:
        assert Syncer(s, TRUSTED, drill.ORIGIN, log.witness).add(log.entries) is None
        drill.store_before_organisations(s)
    with AuditStore.open(pg_url) as s:
        assert s.column_faults() == []
        assert verify_log(s.entries(), TRUSTED, drill.ORIGIN, log.witness).ok
        assert drill.organisations_after_migration(s) == (["d-2"], True)
        (index,) = s.execute(
            "SELECT indexname FROM pg_indexes WHERE indexname = 'audit_entries_organisation'"
        ).fetchall()
        assert index == ("audit_entries_organisation",)
