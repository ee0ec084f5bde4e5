"""The access log, delivered → received → opened: organisations report receipts (`receipt`),
the relay copies them into the audit log (`relay-receipts`), auditors read it (`access`)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.table import Table

from broker.cli._common import IdleOpt, fail, out, settings
from broker.cli.audit._shared import StoreOpt

OrganisationOpt = Annotated[
    str | None, typer.Option(help="only this organisation's deliveries (its directory id)")
]


def _in_directory(organisation: str) -> None:
    """Exit 2 naming --organisation unless the directory lists it (a role gets a hint)."""
    from broker.adapters.policy_files import load_directory, load_policy

    directory = load_directory(load_policy(settings().policy_dir))
    if organisation in directory.organisations:
        return
    filling = sorted(o.id for o in directory.of_kind(organisation))
    hint = "see `broker directory list`"
    if filling:
        more = ", …" if len(filling) > 3 else ""
        hint = f"'{organisation}' is a recipient role, filled by {', '.join(filling[:3])}{more}"
    fail(f"--organisation: '{organisation}' is not in the directory ({hint})")


def receipt(
    delivery_id: Annotated[str, typer.Argument(help="the delivery's id")],
    organisation: Annotated[
        str, typer.Option(help="the organisation reporting (its directory id; its receipts topic)")
    ],
    state: Annotated[str, typer.Option(help="received or opened")] = "received",
) -> None:
    """Organisations' systems: report that a delivery was received or opened."""
    from broker.adapters.kafka.clients import producer, send_all
    from broker.core.audit.access import RECEIPT_TYPE, State
    from broker.core.audit.access import receipt as receipt_event
    from broker.core.audit.events import ce_headers
    from broker.core.deployment.acl import Principals
    from broker.core.pipeline import OutMessage

    if state not in {x.value for x in State}:
        fail("--state: must be received or opened")
    _in_directory(organisation)
    s = settings()
    now = datetime.now(UTC)
    try:
        rid, value = receipt_event(delivery_id, State(state), now)
    except ValueError as exc:
        fail(str(exc))
    topic = s.topics.receipts(organisation)

    async def go() -> None:
        async with producer(s.bootstrap, principal=Principals.recipient(organisation)) as p:
            await send_all(p, [OutMessage(topic, None, value, ce_headers(RECEIPT_TYPE, rid, now))])

    asyncio.run(go())
    out.print(f"{state} receipt for delivery {delivery_id} published to {topic}", highlight=False)


def relay_receipts(
    idle_timeout: IdleOpt = None,
) -> None:
    """Operators: copy recipients' receipts into the audit log (run beside the worker).

    The organisation is the one whose receipts topic the receipt came from. A receipt that is
    not valid is not dropped: a receipt-rejected audit event names the field and the reason.
    """
    from broker.services import relay

    s = settings()
    n = relay.build(s).run(idle_timeout)
    out.print(f"relayed {n} receipt(s) into {s.topics.audit}")


def access(
    recipient: Annotated[
        str | None, typer.Option(help="only deliveries to this recipient role")
    ] = None,
    organisation: OrganisationOpt = None,
    within: Annotated[
        float, typer.Option(help="flag deliveries not received within this many minutes")
    ] = 60.0,
    fail_overdue: Annotated[
        bool, typer.Option("--fail-overdue", help="exit 1 if any delivery is overdue")
    ] = False,
    store: StoreOpt = None,
) -> None:
    """The access log: every delivery, when its organisation received and opened it; overdue
    ones flagged. A receipt counts only from the organisation the delivery was for."""
    from broker.adapters.stores.auditfiles import store_target
    from broker.adapters.stores.auditor import AuditStore
    from broker.core.audit.access import overdue

    with AuditStore.open(store or store_target(settings())) as st:
        log = st.access_log(recipient, organisation)
    now, limit = datetime.now(UTC), timedelta(minutes=within)
    late = {a.delivery_id for a in overdue(log, now, limit)}
    t = Table("delivery", "recipient", "organisation", "delivered", "received", "opened", "status")
    for a in log:
        if a.delivery_id in late:
            status = f"[red]not received within {within:g} min[/]"
        elif a.opened_at:
            status = "[green]opened[/]"
        elif a.received_at:
            status = "received"
        else:
            status = "[yellow]awaiting receipt[/]"
        t.add_row(
            a.delivery_id[:16],
            a.recipient,
            a.organisation or "-",
            a.delivered_at[:19],
            (a.received_at or "-")[:19],
            (a.opened_at or "-")[:19],
            status,
        )
    out.print(t)
    out.print(f"{len(log)} delivery(ies), {len(late)} overdue", highlight=False)
    if late and fail_overdue:
        raise typer.Exit(1)
