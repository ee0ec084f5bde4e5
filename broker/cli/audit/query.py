"""`broker audit query` and `broker audit stats`: search and count the auditor store."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from broker.cli._common import LangOpt, fail, out, settings, translator
from broker.cli.audit._render import audit_table, stored_records, warn_tampered
from broker.cli.audit._shared import StoreOpt
from broker.core.audit.messages import ReviewRecord


def _when(text: str | None, name: str) -> datetime | None:
    if text is None:
        return None
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{name}: not an ISO 8601 date or time")
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def query(
    recipient: Annotated[str | None, typer.Option(help="recipient role, e.g. school")] = None,
    organisation: Annotated[
        str | None, typer.Option(help="organisation (directory id), e.g. bydel-alna-barnevern")
    ] = None,
    legal_basis: Annotated[str | None, typer.Option(help="legal basis id")] = None,
    decision: Annotated[
        str | None, typer.Option(help="deliver, deny, dead-letter or review")
    ] = None,
    notice_id: Annotated[str | None, typer.Option(help="notice id")] = None,
    since: Annotated[
        str | None, typer.Option(help="from this time (ISO 8601, UTC if bare)")
    ] = None,
    until: Annotated[str | None, typer.Option(help="before this time")] = None,
    policy_version: Annotated[str | None, typer.Option(help="policy version")] = None,
    limit: Annotated[int, typer.Option(help="at most this many")] = 500,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines")] = False,
    store: StoreOpt = None,
    lang: LangOpt = None,
) -> None:
    """Search the auditor store (run `broker audit sync` first)."""
    from broker.adapters.stores.auditfiles import store_target
    from broker.adapters.stores.auditor import AuditStore, Filters

    if decision not in (None, "deliver", "deny", "dead-letter", "review"):
        fail("--decision: must be deliver, deny, dead-letter or review")
    f = Filters(
        recipient=recipient,
        organisation=organisation,
        legal_basis=legal_basis,
        decision=decision,
        notice_id=notice_id,
        since=_when(since, "--since"),
        until=_when(until, "--until"),
        policy_version=policy_version,
        limit=limit,
    )
    with AuditStore.open(store or store_target(settings())) as st:
        docs = st.query(f)
    warn_tampered(docs.tampered)
    if as_json:
        for d in docs:
            print(json.dumps(d, ensure_ascii=False))
    else:
        t = translator(lang)
        out.print(
            audit_table(
                [r for r in stored_records(docs) if not isinstance(r, ReviewRecord)],
                t,
                t.ngettext("%(n)s record", "%(n)s records", len(docs)),
            )
        )
    if docs.tampered:
        raise typer.Exit(1)


def stats(store: StoreOpt = None) -> None:
    """Counts: by event, by recipient and decision, by legal basis; reviews pending."""
    from broker.adapters.stores.auditfiles import store_target
    from broker.adapters.stores.auditor import AuditStore
    from broker.core.audit import CHECKPOINT_TYPE

    with AuditStore.open(store or store_target(settings())) as st:
        data = st.stats()
        where = st.where
    out.print(
        f"[bold]{where}[/]: {data['entries']} message(s), {data['first'] or '-'} … "
        f"{data['last'] or '-'}; {data['pending_reviews']} review(s) pending "
        "(counted from the record bytes)",
        highlight=False,
    )
    t = Table("event", "count", title="by event")
    for name, n in data["by_event"]:
        t.add_row("checkpoint" if name == CHECKPOINT_TYPE else str(name), str(n))
    out.print(t)
    t = Table("recipient", "decision", "count", title="decisions by recipient")
    for r, o, n in data["by_recipient"]:
        t.add_row(str(r), str(o), str(n))
    out.print(t)
    t = Table("legal basis", "deliveries", title="deliveries by legal basis")
    for b, n in data["by_legal_basis"]:
        t.add_row(str(b), str(n))
    out.print(t)
    if data["tampered"]:
        warn_tampered(data["tampered"])
        raise typer.Exit(1)
