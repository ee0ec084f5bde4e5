"""Audit log benchmark: prints append and sealing throughput and the time to verify N records.

    .venv/bin/python bench/audit_bench.py                 # 1 000 000 records, a checkpoint per 1000
    .venv/bin/python bench/audit_bench.py -n 100000 --store /tmp/audit-bench.sqlite

Goal (issue 4): verifying 1 M records, from the bytes, against every checkpoint and the witness's
copies, takes at most 30 s. Records are realistic audit records (~700 bytes of JSON).

Checking who wrote each record (issue 10: one Ed25519 signature per record, broker.audit.writers)
is measured on its own, on the first ``--writers`` records (default 20 000) signed by the worker's
audit-writer key in a registry of its own: its rate, and what it adds for all N records.
"""

from __future__ import annotations

import argparse
import gc
import resource
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker import keys
from broker.audit import (
    CHECKPOINT_TYPE,
    RECORD_TYPE,
    Entry,
    MerkleTree,
    Sealer,
    ce_headers,
    verify_log,
    writers,
)
from broker.audit.checkpoint import Checkpoint, trusted_keys
from broker.audit.testing import T0, record_value
from broker.store import AuditStore, Syncer

ORIGIN = "bench/audit"


def values(n: int) -> list[bytes]:
    """n distinct records shaped like the pipeline's (one canonical template, numbers varied)."""
    template = record_value(0)
    rid, sref = f"{0:032x}".encode(), f"hs256:{0:064x}".encode()
    out = []
    for i in range(n):
        out.append(
            template.replace(rid, f"{i:032x}".encode()).replace(sref, f"hs256:{i:064x}".encode())
        )
    return out


def bench_append(data: list[bytes]) -> None:
    gc.collect()
    t = time.perf_counter()
    tree = MerkleTree()
    for v in data:
        tree.append(v)
    root = tree.root()
    dt = time.perf_counter() - t
    print(
        f"append (tree):      {len(data) / dt:,.0f} records/s ({dt:.2f} s), root {root.hex()[:16]}…"
    )


def bench_seal(
    data: list[bytes], key: Ed25519PrivateKey, every: int
) -> tuple[list[Entry], list[Checkpoint]]:
    """What the sealer does on the topic: verify as it reads, sign a checkpoint every N."""
    sealer = Sealer(key, ORIGIN, every=every, interval=timedelta(days=1))
    entries: list[Entry] = []
    witness: list[Checkpoint] = []
    offset = 0
    t = time.perf_counter()
    for v in data:
        e = Entry(offset, RECORD_TYPE, v)
        entries.append(e)
        sealer.add(e)
        offset += 1
        if sealer.pending >= every:
            cp = sealer.seal(T0)
            witness.append(cp)
            c = Entry(offset, CHECKPOINT_TYPE, cp.to_json())
            entries.append(c)
            sealer.add(c)
            offset += 1
    dt = time.perf_counter() - t
    print(
        f"seal (read+sign):   {len(data) / dt:,.0f} records/s ({dt:.2f} s), "
        f"{len(witness):,} checkpoints"
    )
    return entries, witness


def bench_verify(
    entries: list[Entry], key: Ed25519PrivateKey, witness: list[Checkpoint], n: int
) -> None:
    gc.collect()
    t = time.perf_counter()
    report = verify_log(entries, trusted_keys(key.public_key()), ORIGIN, witness)
    dt = time.perf_counter() - t
    assert report.ok, report.fault
    status = "met" if dt <= 30 else "MISSED"
    goal = f"goal 1 M ≤ 30 s: {status}" if n >= 1_000_000 else "goal is for 1 M"
    print(
        f"verify:             {n:,} records, {report.checkpoints:,} checkpoints + "
        f"{report.witnessed:,} witness copies in {dt:.2f} s ({n / dt:,.0f} records/s; {goal})"
    )


def bench_writers(data: list[bytes], n: int) -> None:
    """Each record signed by the worker's audit-writer key; verify with the registry."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = keys.KeyPaths.under(Path(tmp))
        for role in keys.AUDIT_WRITERS:
            keys.ensure(paths, keys.KeyKind.audit_writer, role, T0)
        registry = keys.load_registry(paths.registry)
        worker = writers.writer_key(paths, registry, writers.WORKER)
        sealer = writers.writer_key(paths, registry, writers.SEALER)
    key = Ed25519PrivateKey.generate()
    seal = Sealer(key, ORIGIN, every=len(data), interval=timedelta(days=1))
    entries = []
    for i, v in enumerate(data):
        e = Entry(i, RECORD_TYPE, v, writers.sign(ce_headers(RECORD_TYPE, str(i), T0), v, worker))
        entries.append(e)
        seal.add(e)
    cp = seal.seal(T0).to_json()
    headers = writers.sign(ce_headers(CHECKPOINT_TYPE, "cp", T0), cp, sealer)
    entries.append(Entry(len(data), CHECKPOINT_TYPE, cp, headers))
    gc.collect()
    t = time.perf_counter()
    report = verify_log(entries, trusted_keys(key.public_key()), ORIGIN, registry=registry)
    dt = time.perf_counter() - t
    assert report.ok, (report.fault, report.unattributed[:1])
    assert report.verified == len(data)
    print(
        f"verify + writers:   {len(data) / dt:,.0f} records/s on {len(data):,} signed records; "
        f"for {n:,}: about {n * dt / len(data):.0f} s"
    )


def bench_store(
    path: Path, entries: list[Entry], key: Ed25519PrivateKey, witness: list[Checkpoint], n: int
) -> None:
    path.unlink(missing_ok=True)
    keys = trusted_keys(key.public_key())
    with AuditStore.open(path) as st:
        syncer = Syncer(st, keys, ORIGIN, witness)
        t = time.perf_counter()
        for i in range(0, len(entries), 5000):
            assert syncer.add(entries[i : i + 5000]) is None
        dt = time.perf_counter() - t
        print(
            f"sync to SQLite:     {n / dt:,.0f} records/s ({dt:.1f} s), "
            f"{path.stat().st_size / 1e6:.0f} MB"
        )
        t = time.perf_counter()
        report = verify_log(st.entries(), keys, ORIGIN, witness)
        assert report.ok, report.fault
        print(f"verify from SQLite: {time.perf_counter() - t:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=1_000_000, help="records")
    parser.add_argument("--every", type=int, default=1000, help="records per checkpoint")
    parser.add_argument("--store", type=Path, help="also sync into this SQLite file")
    parser.add_argument("--writers", type=int, default=20_000, help="signed records to verify")
    args = parser.parse_args()
    n = args.n

    t = time.perf_counter()
    data = values(n)
    size = sum(map(len, data))
    print(
        f"records:            {n:,} ({size / n:.0f} bytes each, {size / 1e6:.0f} MB), made in "
        f"{time.perf_counter() - t:.1f} s"
    )
    bench_append(data)
    key = Ed25519PrivateKey.generate()
    entries, witness = bench_seal(data, key, args.every)
    bench_verify(entries, key, witness, n)
    if args.writers:
        bench_writers(data[: args.writers], n)
    if args.store:
        bench_store(args.store, entries, key, witness, n)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS:           {rss:,.0f} MB")


if __name__ == "__main__":
    main()
