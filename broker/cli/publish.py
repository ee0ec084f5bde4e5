"""`broker publish`: publishers validate, sign and publish notices."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from broker.cli._common import out, settings


def publish(
    files: Annotated[list[Path], typer.Argument(help="notice files (JSON)", exists=True)],
    skip_validation: Annotated[
        bool,
        typer.Option(help="send files as they are, even invalid (to test the dead-letter path)"),
    ] = False,
) -> None:
    """Publishers: validate notices, sign them with the issuing unit's key and publish them
    to the notices topic, each with its sender class's principal (publisher.<sender>)."""
    from broker.adapters.kafka.clients import producer, send_all
    from broker.adapters.publisher import by_sender, load_notice, notice_message, raw_message
    from broker.core.deployment.acl import Principals
    from broker.core.errors import BrokerError

    s = settings()
    messages, table = [], Table("file", "notice id", "type", "result")
    failed = False
    for path in files:
        if skip_validation:
            try:
                messages.append(raw_message(path, s))
            except BrokerError as exc:
                failed = True
                table.add_row(str(path), "-", "-", f"[red]not sent[/]: {exc}")
                continue
            table.add_row(str(path), "-", "-", "[yellow]sent unvalidated[/]")
            continue
        try:
            notice = load_notice(path)
        except BrokerError as exc:
            failed = True
            table.add_row(str(path), "-", "-", f"[red]invalid, not sent[/]: {exc}")
            continue
        messages.append(notice_message(notice, s))
        table.add_row(str(path), str(notice.notice_id), notice.notice_type, "[green]sent[/]")

    async def go() -> None:
        # one producer per sender class: a class's notices go out with its own certificate
        for sender, batch in by_sender(messages).items():
            async with producer(s.bootstrap, principal=Principals.publisher(sender)) as p:
                await send_all(p, batch)

    if messages:
        asyncio.run(go())
    out.print(table)
    if failed:
        raise typer.Exit(1)
