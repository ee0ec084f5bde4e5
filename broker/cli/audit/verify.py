"""`broker audit verify`: check the topic, the store or a dump against the signed checkpoints
and the witness file; exit 1 naming the first bad record, 3 if records are not proven."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from broker.cli._common import fail, out, settings
from broker.cli.audit._render import fail_columns, fail_fault, progress, report_table
from broker.cli.audit._shared import (
    StoreOpt,
    TrustOpt,
    WitnessOpt,
    registry_of,
    reported,
    trusted,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from rich.progress import Progress

    from broker.adapters.settings import Settings
    from broker.core.audit import Report, Verifier
    from broker.core.crypto.registry import Registry

EXIT_TAMPERED = 1  # the log contradicts its checkpoints (or a checkpoint is not genuine)
EXIT_UNPROVEN = 3  # nothing contradicts the log, but nothing proves all of it either


def verify(
    source: Annotated[
        str, typer.Option("--from", help="'topic', 'store', or a dump file (JSON lines)")
    ] = "topic",
    store: StoreOpt = None,
    witness: WitnessOpt = None,
    trust: TrustOpt = None,
    allow_unsealed: Annotated[
        bool,
        typer.Option(
            "--allow-unsealed", help="accept records after the last checkpoint (and count them)"
        ),
    ] = False,
    no_witness: Annotated[
        bool,
        typer.Option("--no-witness", help="verify without a witness file (cannot see truncation)"),
    ] = False,
    no_writers: Annotated[
        bool,
        typer.Option(
            "--no-writers",
            help="do not check who wrote each message (a log from before writers signed)",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
) -> None:
    """Verify the audit log: exit 0 only if every record is proven by a signed checkpoint.

    Checks every record against the signed checkpoints (from the topic, the store or a dump)
    and against the witness file's copies, which catch a rewritten or truncated topic. Exit 1:
    the log contradicts a checkpoint (edited, missing, inserted, reordered, truncated, forked,
    bad-signature, malformed), naming the first bad record. Exit 3: nothing proves it all
    (unsealed-records, no-checkpoints, witness-missing, witness-empty). Memory stays flat.
    """
    from broker.adapters.stores.auditfiles import witness_path

    s = settings()
    keys = trusted(s, trust)
    wpath = None if no_witness else (witness or witness_path(s))
    path = Path(source)
    if source not in ("topic", "store") and not path.exists():
        fail(f"--from: '{source}' is not 'topic', 'store' or an existing dump file")
    where = {"topic": f"topic {s.topics.audit}", "store": "store"}.get(source, f"dump {path}")
    # every message's writer is checked against the key registry (the store keeps each
    # message's headers, which carry its writer's signature)
    registry = None if no_writers else registry_of(s)
    check = Pass(s, source, store, keys, wpath, allow_unsealed, registry, where)
    report = check.run(None)
    if report.fault is not None and report.fault.recheck is not None:
        report = check.run(report.fault.recheck)  # every source can be read again
    summary = verify_summary(report, check.where, wpath)
    if as_json:
        print(json.dumps(summary))
        raise typer.Exit(summary["exit"])
    if report.fault or report.unattributed_count:
        fail_fault(report, check.where, summary["exit"])
    if check.tampered:  # the index columns queries select on must say what the verified bytes say
        fail_columns(check.tampered, check.where)
    print_verified(report, check.where, wpath, attributed=registry is not None)


@dataclass
class Pass:
    """One pass of the verifier over the source; ``keep`` holds the leaves a second pass needs
    to name the record a first pass could not place."""

    settings: Settings
    source: str  # 'topic', 'store' or a dump file
    store: str | None
    keys: dict[str, Ed25519PublicKey]
    wpath: Path | None
    allow_unsealed: bool
    registry: Registry | None
    where: str
    tampered: list[Any] = field(default_factory=list)  # rows whose columns disagree (store)

    def run(self, keep: tuple[int, int] | None) -> Report:
        from broker.adapters.stores.auditfiles import iter_witness, origin_of, read_dump
        from broker.core.audit import Verifier

        w = self.wpath
        # the witness and a dump are read as the verifier goes: a bad line stops it there
        with reported():
            v = Verifier(
                self.keys,
                origin_of(self.settings),
                () if w is None else (iter_witness(w) if w.exists() else None),
                allow_unsealed=self.allow_unsealed,
                require_witness=w is not None,
                keep=keep,
                registry=self.registry,
            )
        again = "" if keep is None else " again, to name the record"
        with progress() as bars, reported():
            if self.source == "topic":
                asyncio.run(self._topic(v, bars, f"verifying the audit topic{again}"))
            elif self.source == "store":
                self._store(v, bars, f"verifying the store{again}")
            else:
                for e in read_dump(Path(self.source)):
                    if v.add(e):
                        break
        with reported():
            return v.finish()

    async def _topic(self, v: Verifier, bars: Progress, what: str) -> None:
        from broker.adapters.kafka import auditlog
        from broker.core.deployment.acl import Principals

        t = bars.add_task(what, total=None)
        async for entries, position, end in auditlog.read(self.settings, Principals().auditor):
            bars.update(t, total=end, completed=position)
            for e in entries:
                if v.add(e):
                    return

    def _store(self, v: Verifier, bars: Progress, what: str) -> None:
        from broker.adapters.stores.auditfiles import store_target
        from broker.adapters.stores.auditor import AuditStore

        with AuditStore.open(self.store or store_target(self.settings)) as st:
            self.where = f"store {st.where}"
            t = bars.add_task(what, total=st.count())
            for e in st.entries():
                bars.advance(t)
                if v.add(e):
                    break
            self.tampered[:] = st.column_faults()


def verify_summary(report: Report, where: str, witness: Path | None) -> dict[str, Any]:
    """What was verified, or why not: the --json output, and what the text output says."""
    from broker.core.audit.faults import UNPROVEN

    fault, latest = report.fault, report.latest
    if fault is None and report.unattributed:
        fault = report.unattributed[0]  # a forged message is tampering
    code = 0 if fault is None else EXIT_UNPROVEN if fault.kind in UNPROVEN else EXIT_TAMPERED
    return {
        "ok": fault is None,
        "cause": None if fault is None else str(fault.kind),
        "unattributed": report.unattributed_count,
        "exit": code,
        "source": where,
        "fault": None
        if fault is None
        else {
            "kind": str(fault.kind),
            "where": fault.where(),
            "detail": fault.detail,
            "index": fault.index,
            "offset": fault.offset,
            "record_id": fault.record_id,
            "checkpoint_offset": fault.checkpoint_offset,
        },
        "records": report.records,
        "sealed": report.sealed,
        "unsealed": report.unsealed,
        "sealed_through_offset": report.sealed_offset,
        "checkpoints": report.checkpoints,
        "checkpoint": None if latest is None else latest.summary(),
        "key_ids": sorted(report.key_ids),
        "witness": None if witness is None else {"file": str(witness), "copies": report.witnessed},
    }


def print_verified(report: Report, where: str, wpath: Path | None, *, attributed: bool) -> None:
    """What was verified: up to which record, against which checkpoint, keys and witness, and
    whether the writer of every message was checked."""
    out.print(report_table(report, where))
    if attributed:
        out.print("[green]attributed[/]: an entitled writer signed every message", highlight=False)
    else:
        out.print("[yellow]writers not checked (--no-writers)[/]", highlight=False)
    latest = report.latest
    if latest is None:
        out.print("[green]verified[/]: the log is empty", highlight=False)
        return
    w = "no witness (--no-witness)" if wpath is None else f"witness {wpath} ({report.witnessed})"
    ids = ", ".join(sorted(report.key_ids))
    out.print(
        f"[green]verified[/]: records #0–#{report.sealed - 1} (through offset "
        f"{report.sealed_offset}) against checkpoint {latest.tree_size} (root "
        f"{latest.root_hash}, {latest.time}), signed by key(s) {ids}; {w}",
        highlight=False,
    )
    if report.unsealed:
        out.print(
            f"[yellow]unsealed-records (allowed): {report.unsealed} record(s) after the last "
            "checkpoint are not verified[/]",
            highlight=False,
        )
