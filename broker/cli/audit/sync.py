"""`broker audit sync`: copy the audit topic into the auditor store, verifying as it goes."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from broker.cli._common import fail, out, settings
from broker.cli.audit._render import fail_columns, fail_fault, progress, report_table
from broker.cli.audit._shared import (
    StoreOpt,
    TrustOpt,
    WitnessOpt,
    registry_of,
    trusted,
    witness_checkpoints,
)

if TYPE_CHECKING:
    from rich.progress import Progress

    from broker.adapters.settings import Settings
    from broker.adapters.stores.auditor import Syncer
    from broker.core.crypto.registry import Registry


def sync(
    store: StoreOpt = None,
    witness: WitnessOpt = None,
    trust: TrustOpt = None,
) -> None:
    """Copy the audit topic into the auditor store, verifying as it goes (idempotent).

    Stops at the first inconsistency with exit status 1, naming the record and the fault;
    nothing after it is written.
    """
    from broker.adapters.stores.auditfiles import origin_of, store_target, witness_path
    from broker.adapters.stores.auditor import AuditStore, Syncer

    s = settings()
    keys = trusted(s, trust)
    registry = registry_of(s)
    origin = origin_of(s)
    with AuditStore.open(store or store_target(s)) as st:
        if st.meta("origin") not in (None, origin):
            fail(f"{st.where} holds the log '{st.meta('origin')}', not '{origin}'")
        syncer = Syncer(st, keys, origin, witness_checkpoints(witness or witness_path(s)))
        start = st.next_offset()
        complete = False
        with progress() as bars:
            task = bars.add_task("re-verifying the store", total=st.count())
            fault = syncer.check_stored()
            bars.update(task, completed=st.count())
            tampered = st.column_faults() if fault is None else []
            if tampered:
                fail_columns(tampered, f"audit store {st.where}")
            if fault is None:
                # each message's writer is checked as it is synced (and again, from the headers
                # the store keeps, by `verify --from store` and the page)
                complete = asyncio.run(_from_topic(s, syncer, registry, start, bars))
        st.set_meta("origin", origin)
        st.conn.commit()
        report = syncer.finish() if fault is None and complete else syncer.verifier.report
        if not report.ok:
            fail_fault(report, f"audit log (sync into {st.where})")
        out.print(report_table(report, st.where))
        out.print(f"{syncer.written} new message(s) written; next offset {st.next_offset()}")


async def _from_topic(
    s: Settings, syncer: Syncer, registry: Registry, start: int, bars: Progress
) -> bool:
    """Sync the topic from ``start``; False at a fault or at a message no entitled writer
    signed: it is named, never written, and nothing after it is."""
    from broker.adapters.kafka import auditlog
    from broker.core.audit import writers
    from broker.core.deployment.acl import Principals

    t = bars.add_task("syncing the audit topic", total=None)
    async for entries, position, end in auditlog.read(s, Principals().auditor, start=start):
        bars.update(t, total=end - start, completed=position - start)
        n = next(
            (i for i, e in enumerate(entries) if writers.check(e, registry)),
            len(entries),
        )
        if syncer.add(entries[:n]):
            return False
        if n < len(entries):
            syncer.verifier.registry = registry  # to name it in the report
            syncer.verifier.add(entries[n])
            return False
    return True
