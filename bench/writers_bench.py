"""What checking each audit message's writer costs (one Ed25519 signature per message).

    .venv/bin/python bench/writers_bench.py [-n 20000] [--for 1000000]

Signs ``-n`` realistic audit records with the worker's audit-writer key and a checkpoint with
the sealer's, then verifies them with and without the key registry (the Merkle check alone vs
Merkle plus writers), prints both rates and what the writers check adds for ``--for`` records.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console
from rich.table import Table

from broker.adapters.stores import keyfiles
from broker.core.audit import (
    CHECKPOINT_TYPE,
    RECORD_TYPE,
    Entry,
    Sealer,
    ce_headers,
    verify_log,
    writers,
)
from broker.core.audit.checkpoint import trusted_keys
from broker.core.crypto.registry import AUDIT_WRITERS, KeyKind
from broker.testing.audit import T0, record_value

ORIGIN = "bench/writers"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=20_000, help="signed records to verify")
    parser.add_argument("--for", dest="total", type=int, default=1_000_000)
    args = parser.parse_args()
    template = record_value(0)
    rid = f"{0:032x}".encode()
    with tempfile.TemporaryDirectory() as tmp:
        paths = keyfiles.KeyPaths.under(Path(tmp))
        for role in AUDIT_WRITERS:
            keyfiles.ensure(paths, KeyKind.audit_writer, role, T0)
        registry = keyfiles.load_registry(paths.registry)
        worker = keyfiles.writer_key(paths, registry, writers.WORKER)
        sealer = keyfiles.writer_key(paths, registry, writers.SEALER)
    key = Ed25519PrivateKey.generate()
    seal = Sealer(key, ORIGIN, every=args.n, interval=timedelta(days=1))
    entries = []
    for i in range(args.n):
        v = template.replace(rid, f"{i:032x}".encode())
        e = Entry(i, RECORD_TYPE, v, writers.sign(ce_headers(RECORD_TYPE, str(i), T0), v, worker))
        entries.append(e)
        seal.add(e)
    cp = seal.seal(T0).to_json()
    entries.append(
        Entry(
            args.n,
            CHECKPOINT_TYPE,
            cp,
            writers.sign(ce_headers(CHECKPOINT_TYPE, "cp", T0), cp, sealer),
        )
    )
    trusted = trusted_keys(key.public_key())
    rates = {}
    for label, reg in (("Merkle only", None), ("Merkle + writers", registry)):
        t = time.perf_counter()
        report = verify_log(entries, trusted, ORIGIN, registry=reg)
        dt = time.perf_counter() - t
        assert report.ok, (report.fault, report.unattributed[:1])
        rates[label] = args.n / dt
    table = Table("check", "records/s", f"time for {args.total:,}", title="bench/writers_bench.py")
    for label, rate in rates.items():
        table.add_row(label, f"{rate:,.0f}", f"{args.total / rate:,.0f} s")
    console = Console()
    console.print(table)


if __name__ == "__main__":
    main()
