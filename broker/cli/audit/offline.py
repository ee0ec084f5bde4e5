"""For auditors working offline: `dump` the topic to a file, `prove` a record's inclusion or two
checkpoints' consistency from the store, `check-proof` with the public key alone."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from broker.cli._common import fail, out, settings
from broker.cli.audit._shared import StoreOpt, TrustOpt, trusted

if TYPE_CHECKING:
    from broker.adapters.stores.auditor import AuditStore
    from broker.core.audit import Checkpoint


def dump(file: Annotated[Path, typer.Argument(help="output file (JSON lines)")]) -> None:
    """Write the audit topic to a file, one message per line, for offline verification."""
    from broker.adapters.kafka import auditlog
    from broker.adapters.stores.auditfiles import write_dump
    from broker.core.deployment.acl import Principals

    s = settings()
    n = 0

    async def go() -> None:
        nonlocal n
        with file.open("w", encoding="utf-8") as fh:
            async for entries, _, _ in auditlog.read(s, Principals().auditor):
                n += write_dump(fh, entries)

    asyncio.run(go())
    out.print(f"wrote {n} message(s) of {s.topics.audit} to {file}")


def _load_tree(st: AuditStore) -> tuple[Any, list[Checkpoint], dict[str, tuple[int, bytes]]]:
    """The store's Merkle tree, its checkpoints and record id -> (index, value)."""
    from broker.core.audit import AuditError, Checkpoint, MerkleTree, record_id_of

    tree, cps, ids = MerkleTree(), [], {}
    for e in st.entries():
        if e.is_checkpoint:
            try:
                cps.append(Checkpoint.from_json(e.value))
            except AuditError:
                continue
        else:
            i = tree.append(e.value)
            rid = record_id_of(e.value)
            if rid and rid not in ids:
                ids[rid] = (i, e.value)
    return tree, cps, ids


def prove(
    record: Annotated[str | None, typer.Option(help="inclusion proof for this record id")] = None,
    old: Annotated[int | None, typer.Option("--old", help="consistency: older tree size")] = None,
    new: Annotated[int | None, typer.Option("--new", help="consistency: newer tree size")] = None,
    store: StoreOpt = None,
) -> None:
    """Print a proof bundle (JSON) from the store, to check offline with `check-proof`."""
    from broker.adapters.stores.auditfiles import store_target
    from broker.adapters.stores.auditor import AuditStore
    from broker.core.audit.proofs import consistency_bundle, inclusion_bundle

    s = settings()
    with AuditStore.open(store or store_target(s)) as st:
        tree, cps, ids = _load_tree(st)
    if not cps:
        fail("the store holds no checkpoint yet (run `broker audit seal` and `sync`)")
    by_size = {cp.tree_size: cp for cp in cps}
    if record is not None:
        if record not in ids:
            fail(f"--record: no audit record {record} in the store")
        index, value = ids[record]
        cp = next((c for c in sorted(cps, key=lambda c: c.tree_size) if c.tree_size > index), None)
        if cp is None:
            fail(f"--record: record {record} is not sealed yet")
        bundle = inclusion_bundle(tree, index, value, cp)
    elif old is not None and new is not None:
        if old not in by_size or new not in by_size:
            fail(f"--old/--new: checkpoints exist for sizes {', '.join(map(str, sorted(by_size)))}")
        bundle = consistency_bundle(tree, by_size[old], by_size[new])
    else:
        fail("give --record ID, or --old SIZE and --new SIZE")
    print(json.dumps(bundle, indent=2))


def check_proof(
    file: Annotated[Path, typer.Argument(help="a bundle from `broker audit prove`", exists=True)],
    trust: TrustOpt = None,
) -> None:
    """Check a proof bundle offline, with the public key alone."""
    from broker.core.audit import AuditError
    from broker.core.audit.proofs import check_bundle

    keys = trusted(settings(), trust)
    try:
        what = check_bundle(json.loads(file.read_text(encoding="utf-8")), keys)
    except (AuditError, ValueError) as exc:
        fail(f"{file}: {exc}", 1)
    out.print(f"[green]valid[/]: {what}", highlight=False)
