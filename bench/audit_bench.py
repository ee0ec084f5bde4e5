"""Audit log benchmark: sealing throughput, and the time and peak memory to verify N records.

    .venv/bin/python bench/audit_bench.py         # 1 M and 5 M records, a checkpoint per 1000
    .venv/bin/python bench/audit_bench.py -n 100000 --store /tmp/audit-bench.sqlite

For each N the records are generated on the fly and sealed (the checkpoints go to a file, the
witness); then a child process verifies the log, reading the records again as a stream and the
witness file lazily, and reports its own time and peak RSS (VmHWM in the child: the
verifier's figure, not the generator's). Goals: verifying 1 M records, from the bytes, against
every checkpoint and the witness's copies, takes at most 30 s (issue 4), and peak memory does
not grow with N (issue 10: the ratio of peak RSS at the largest N to the smallest is printed).
Records are realistic audit records (~700 bytes of JSON).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.adapters.stores.auditor import AuditStore, Syncer
from broker.core.audit import CHECKPOINT_TYPE, RECORD_TYPE, Entry, Sealer, verify_log
from broker.core.audit.checkpoint import Checkpoint, load_public_pem, public_pem, trusted_keys
from broker.testing.audit import T0, record_value

ORIGIN = "bench/audit"
TEMPLATE = record_value(0)
RID, SREF = f"{0:032x}".encode(), f"hs256:{0:064x}".encode()


def value(i: int) -> bytes:
    """Record ``i``: one canonical template, numbers varied (distinct, deterministic)."""
    return TEMPLATE.replace(RID, f"{i:032x}".encode()).replace(SREF, f"hs256:{i:064x}".encode())


def entries(n: int, every: int, checkpoints: Path) -> Iterator[Entry]:
    """The audit topic: n records and, after every ``every`` (and the last), its checkpoint."""
    with checkpoints.open("rb") as cps:
        offset = 0
        for i in range(n):
            yield Entry(offset, RECORD_TYPE, value(i))
            offset += 1
            if (i + 1) % every == 0 or i == n - 1:
                yield Entry(offset, CHECKPOINT_TYPE, cps.readline().rstrip(b"\n"))
                offset += 1


def witness(checkpoints: Path) -> Iterator[Checkpoint]:
    with checkpoints.open("rb") as fh:
        for line in fh:
            yield Checkpoint.from_json(line)


def seal(n: int, key: Ed25519PrivateKey, every: int, checkpoints: Path) -> float:
    """What the sealer does on the topic: verify as it reads, sign a checkpoint every N."""
    sealer = Sealer(key, ORIGIN, every=every, interval=timedelta(days=1))
    offset = 0
    t = time.perf_counter()
    with checkpoints.open("wb") as out:
        for i in range(n):
            sealer.add(Entry(offset, RECORD_TYPE, value(i)))
            offset += 1
            if sealer.pending >= every or i == n - 1:
                cp = sealer.seal(T0)
                out.write(cp.to_json() + b"\n")
                sealer.add(Entry(offset, CHECKPOINT_TYPE, cp.to_json()))
                offset += 1
    return time.perf_counter() - t


def peak_rss_kb() -> int:
    """This process's peak RSS: VmHWM, which starts afresh at exec (ru_maxrss on Linux keeps the
    parent's peak across fork and exec, so it would report the generator's)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # not Linux: the best there is


def child(n: int, every: int, checkpoints: Path, pub: Path) -> None:
    """In its own process: verify, print time and peak RSS (before and after) as JSON."""
    keys = trusted_keys(load_public_pem(pub.read_bytes()))
    base = peak_rss_kb()
    t = time.perf_counter()
    report = verify_log(entries(n, every, checkpoints), keys, ORIGIN, witness(checkpoints))
    dt = time.perf_counter() - t
    peak = peak_rss_kb()
    assert report.ok, report.fault
    result = {"seconds": dt, "peak_kb": peak, "base_kb": base, "records": report.records}
    result |= {"checkpoints": report.checkpoints, "witnessed": report.witnessed}
    print(json.dumps(result))


def bench_store(path: Path, n: int, every: int, key: Ed25519PrivateKey, cps: Path) -> None:
    path.unlink(missing_ok=True)
    keys = trusted_keys(key.public_key())
    with AuditStore.open(path) as st:
        syncer = Syncer(st, keys, ORIGIN, witness(cps))
        t = time.perf_counter()
        batch: list[Entry] = []
        for e in entries(n, every, cps):
            batch.append(e)
            if len(batch) == 5000:
                assert syncer.add(batch) is None
                batch = []
        assert syncer.add(batch) is None
        dt = time.perf_counter() - t
        print(
            f"  sync to SQLite:   {n / dt:,.0f} records/s ({dt:.1f} s), "
            f"{path.stat().st_size / 1e6:.0f} MB"
        )
        t = time.perf_counter()
        report = verify_log(st.entries, keys, ORIGIN, lambda: witness(cps))
        assert report.ok, report.fault
        print(f"  verify from SQLite: {time.perf_counter() - t:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, nargs="+", default=[1_000_000, 5_000_000], help="records")
    parser.add_argument("--every", type=int, default=1000, help="records per checkpoint")
    parser.add_argument("--store", type=Path, help="also sync the smallest N into this SQLite file")
    parser.add_argument("--child", nargs=3, metavar=("N", "CHECKPOINTS", "PUBKEY"), help="internal")
    args = parser.parse_args()
    if args.child:
        child(int(args.child[0]), args.every, Path(args.child[1]), Path(args.child[2]))
        return

    key = Ed25519PrivateKey.generate()
    peaks: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="audit-bench-") as tmp:
        pub = Path(tmp) / "pub.pem"
        pub.write_bytes(public_pem(key.public_key()))
        for n in sorted(args.n):
            cps = Path(tmp) / f"checkpoints-{n}.jsonl"
            dt = seal(n, key, args.every, cps)
            print(f"{n:,} records ({len(value(0))} bytes each), a checkpoint per {args.every:,}")
            print(f"  seal (read+sign): {n / dt:,.0f} records/s ({dt:.1f} s)")
            child_args = [str(n), str(cps), str(pub)]
            run = subprocess.run(
                [sys.executable, __file__, "--every", str(args.every), "--child", *child_args],
                capture_output=True,
                text=True,
                check=True,
            )
            r = json.loads(run.stdout)
            peaks[n] = r["peak_kb"] / 1024
            status = "met" if r["seconds"] <= 30 * n / 1_000_000 else "MISSED"
            print(
                f"  verify:           {r['records']:,} records, {r['checkpoints']:,} checkpoints "
                f"+ {r['witnessed']:,} witness copies in {r['seconds']:.2f} s "
                f"({n / r['seconds']:,.0f} records/s; ≤ 30 s per 1 M: {status})"
            )
            print(
                f"  verifier peak RSS: {peaks[n]:,.0f} MB (child process; "
                f"{r['base_kb'] / 1024:,.0f} MB before verifying)"
            )
            sealer_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"  this process (generator and sealer) peak RSS so far: {sealer_mb:,.0f} MB")
            if args.store and n == min(args.n):
                bench_store(args.store, n, args.every, key, cps)
            cps.unlink()
    if len(peaks) > 1:
        lo, hi = min(peaks), max(peaks)
        print(
            f"peak RSS {hi:,} / {lo:,} records: {peaks[hi] / peaks[lo]:.2f}× for "
            f"{hi / lo:.0f}× the records (flat is 1.00×)"
        )


if __name__ == "__main__":
    main()
