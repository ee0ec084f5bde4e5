"""Build synthetic audit logs and tamper with them: the drills the tests and the benchmark run.

A log is the list of entries the audit topic would hold (records and the sealer's checkpoints,
in topic order) plus the witness's copies of the checkpoints. Each drill returns a tampered copy
and never changes its input.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.adapters.stores.auditor import AuditStore
from broker.adapters.stores.auditor.filters import Filters
from broker.core.audit.checkpoint import Checkpoint, key_id
from broker.core.audit.events import CHECKPOINT_TYPE, RECORD_TYPE, Entry, canonical
from broker.core.audit.sealer import Sealer
from broker.core.times import utc_z

ORIGIN = "test/audit"
T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def record_value(i: int, recipient: str = "school", organisation: str | None = None) -> bytes:
    """A plausible audit record (decision) as canonical JSON bytes, unique per ``i``; it names
    ``organisation`` if given (records from before routing named one do not)."""
    whose = {} if organisation is None else {"organisation": organisation}
    return canonical(
        {
            **whose,
            "record_id": f"{i:032x}",
            "event": "decision",
            "recorded_at": utc_z(T0 + timedelta(seconds=i), "auto"),
            "policy_version": "0" * 64,
            "notice_id": f"00000000-0000-4000-8000-{i:012x}",
            "notice_type": "incident",
            "source": f"notices/0/{i}",
            "subject_ref": f"hs256:{i:064x}",
            "recipient": recipient,
            "outcome": "deliver",
            "rule_id": "incident-to-school",
            "legal_basis": {
                "id": "politiregisterloven-24",
                "statute": "Politiregisterloven (LOV-2010-05-28-16)",
                "citation": "§ 24 nr. 1",
                "status": "confirmed",
                "source": "https://lovdata.no/dokument/NL/lov/2010-05-28-16",
            },
            "reasons": [],
            "fields_kept": ["child.name", "incident.summary"],
            "fields_withheld": ["child.national_id"],
        }
    )


@dataclasses.dataclass(frozen=True)
class Log:
    entries: list[Entry]
    witness: list[Checkpoint]


def seal_all(values: list[bytes], key: Ed25519PrivateKey, every: int, origin: str = ORIGIN) -> Log:
    """The topic a sealer produces over ``values`` (a checkpoint after every ``every``)."""
    sealer = Sealer(key, origin, every=every, interval=timedelta(days=1))
    entries: list[Entry] = []
    witness: list[Checkpoint] = []
    offset = 0
    for i, value in enumerate(values):
        entry = Entry(offset, RECORD_TYPE, value)
        entries.append(entry)
        sealer.add(entry)
        offset += 1
        now = T0 + timedelta(seconds=i)
        if sealer.pending >= every or (i == len(values) - 1 and sealer.pending):
            cp = sealer.seal(now)
            witness.append(cp)
            cp_entry = Entry(offset, CHECKPOINT_TYPE, cp.to_json())
            entries.append(cp_entry)
            sealer.add(cp_entry)
            offset += 1
    return Log(entries, witness)


def build(n: int, key: Ed25519PrivateKey, every: int = 10) -> Log:
    return seal_all([record_value(i) for i in range(n)], key, every)


def records(log: Log) -> list[Entry]:
    return [e for e in log.entries if not e.is_checkpoint]


def _position(entries: list[Entry], record_index: int) -> int:
    """Where the ``record_index``-th record (log index) sits among all entries."""
    seen = -1
    for pos, e in enumerate(entries):
        if not e.is_checkpoint:
            seen += 1
            if seen == record_index:
                return pos
    raise IndexError(record_index)


def edit_byte(log: Log, index: int, at: int = 40) -> Log:
    """Change one byte of record ``index`` (by default inside its recorded_at time)."""
    entries = list(log.entries)
    pos = _position(entries, index)
    value = bytearray(entries[pos].value)
    value[at] = ord("9") if value[at] != ord("9") else ord("8")
    entries[pos] = dataclasses.replace(entries[pos], value=bytes(value))
    return Log(entries, log.witness)


def delete(log: Log, index: int) -> Log:
    entries = list(log.entries)
    del entries[_position(entries, index)]
    return Log(entries, log.witness)


def swap(log: Log, i: int, j: int) -> Log:
    """Swap the values of records ``i`` and ``j`` (their offsets stay where they were)."""
    entries = list(log.entries)
    a, b = _position(entries, i), _position(entries, j)
    entries[a], entries[b] = (
        dataclasses.replace(entries[a], value=entries[b].value),
        dataclasses.replace(entries[b], value=entries[a].value),
    )
    return Log(entries, log.witness)


def truncate(log: Log, keep_records: int) -> Log:
    """Cut the topic after ``keep_records`` records, with every checkpoint after them."""
    entries = list(log.entries)
    end = _position(entries, keep_records) if keep_records < len(records(log)) else len(entries)
    return Log(entries[:end], log.witness)


def resign(log: Log, checkpoint_number: int, other: Ed25519PrivateKey, claim: bool = True) -> Log:
    """Replace the ``checkpoint_number``-th checkpoint on the topic with the same content signed
    by ``other``: still claiming the real key's id (``claim``) or naming its own."""
    entries = list(log.entries)
    pos = [p for p, e in enumerate(entries) if e.is_checkpoint][checkpoint_number]
    cp = Checkpoint.from_json(entries[pos].value)
    if not claim:
        cp = dataclasses.replace(cp, key_id=key_id(other.public_key()))
    forged = dataclasses.replace(
        cp, signature=base64.b64encode(other.sign(cp.signed_bytes())).decode()
    )
    entries[pos] = dataclasses.replace(entries[pos], value=forged.to_json())
    return Log(entries, log.witness)


def fork(log: Log, index: int, key: Ed25519PrivateKey, every: int = 10) -> Log:
    """Rewrite record ``index`` and re-seal the whole topic with the real key, as someone holding
    the sealer's key could; the witness keeps the checkpoints of the original history."""
    values = [e.value for e in records(edit_byte(log, index))]
    rewritten = seal_all(values, key, every, log.witness[0].origin)
    return Log(rewritten.entries, log.witness)


# --- the same drills on an auditor store (SQLite or PostgreSQL) ------------------------------


def store_offsets(store: AuditStore, checkpoints: bool = False) -> list[int]:
    op = "=" if checkpoints else "<>"
    rows = store.execute(
        f"SELECT kafka_offset FROM audit_entries WHERE ce_type {op} ? ORDER BY kafka_offset",  # noqa: S608
        (CHECKPOINT_TYPE,),
    ).fetchall()
    return [int(r[0]) for r in rows]


def _value(store: AuditStore, offset: int) -> bytes:
    row = store.execute("SELECT value FROM audit_entries WHERE kafka_offset = ?", (offset,))
    return bytes(row.fetchone()[0])


def _set_value(store: AuditStore, offset: int, value: bytes) -> None:
    store.execute("UPDATE audit_entries SET value = ? WHERE kafka_offset = ?", (value, offset))


def store_edit_byte(store: AuditStore, index: int, at: int = 40) -> None:
    offset = store_offsets(store)[index]
    value = bytearray(_value(store, offset))
    value[at] = ord("9") if value[at] != ord("9") else ord("8")
    _set_value(store, offset, bytes(value))
    store.conn.commit()


def store_delete(store: AuditStore, index: int) -> None:
    store.execute(
        "DELETE FROM audit_entries WHERE kafka_offset = ?", (store_offsets(store)[index],)
    )
    store.conn.commit()


def store_swap(store: AuditStore, i: int, j: int) -> None:
    offsets = store_offsets(store)
    a, b = _value(store, offsets[i]), _value(store, offsets[j])
    _set_value(store, offsets[i], b)
    _set_value(store, offsets[j], a)
    store.conn.commit()


def store_truncate(store: AuditStore, keep_records: int) -> None:
    cut = store_offsets(store)[keep_records]
    store.execute("DELETE FROM audit_entries WHERE kafka_offset >= ?", (cut,))
    store.conn.commit()


def store_resign(store: AuditStore, checkpoint_number: int, other: Ed25519PrivateKey) -> None:
    offset = store_offsets(store, checkpoints=True)[checkpoint_number]
    cp = Checkpoint.from_json(_value(store, offset))
    forged = dataclasses.replace(
        cp, signature=base64.b64encode(other.sign(cp.signed_bytes())).decode()
    )
    _set_value(store, offset, forged.to_json())
    store.conn.commit()


def store_replace(store: AuditStore, log: Log) -> None:
    """Replace everything the store holds with ``log``'s entries (a rewritten history)."""
    store.execute("DELETE FROM audit_entries")
    store.conn.commit()
    store.add(log.entries)


def store_edit_column(store: AuditStore, index: int, column: str, value: object) -> None:
    """Change one index column of record ``index``, leaving its bytes as they were."""
    if column not in (
        "recipient",
        "organisation",
        "outcome",
        "legal_basis",
        "subject_ref",
        "recorded_at",
        "event",
    ):
        raise ValueError(f"column: {column} is not an index column this drill edits")
    offset = store_offsets(store)[index]
    store.execute(
        f"UPDATE audit_entries SET {column} = ? WHERE kafka_offset = ?",  # noqa: S608
        (value, offset),
    )
    store.conn.commit()


def values_across_versions() -> list[bytes]:
    """Audit records as each version of the broker wrote them, unsealed: a decision naming only
    its role (before routing named organisations); decisions naming their organisation (d-1 to
    skole-9002, d-2 to bydel-alna-barnevern); a receipt for d-1 relayed with the organisation's
    id as its recipient and no organisation (from 4d77c84 until receipts named both)."""
    receipt = {
        "record_id": "1" * 32,
        "event": "received",
        "recorded_at": utc_z(T0 + timedelta(seconds=10), "auto"),
        "receipt_at": utc_z(T0 + timedelta(seconds=9), "auto"),
        "delivery_id": "d-1",
        "recipient": "skole-9002",
        "source": "receipts.skole-9002/0/0",
    }
    return [
        record_value(0),
        canonical(json.loads(record_value(1, "school", "skole-9002")) | {"delivery_id": "d-1"}),
        canonical(
            json.loads(record_value(2, "child-welfare", "bydel-alna-barnevern"))
            | {"delivery_id": "d-2"}
        ),
        canonical(receipt),
    ]


def store_before_organisations(store: AuditStore) -> None:
    """Take the store back to before records' organisations were indexed: its organisation
    index and column dropped, every row's bytes and other columns as they were."""
    store.execute("DROP INDEX audit_entries_organisation")
    store.execute("ALTER TABLE audit_entries DROP COLUMN organisation")
    store.conn.commit()


def organisations_after_migration(store: AuditStore) -> tuple[list[str], bool]:
    """What a store made from ``values_across_versions`` answers once migrated: the delivery ids
    the organisation filter finds for bydel-alna-barnevern, and whether skole-9002's one
    delivery (d-1) reads as received (its receipt joined by organisation)."""
    alna = [
        str(d["delivery_id"]) for d in store.query(Filters(organisation="bydel-alna-barnevern"))
    ]
    (access,) = store.access_log(organisation="skole-9002")
    return alna, access.delivery_id == "d-1" and access.received_at is not None
