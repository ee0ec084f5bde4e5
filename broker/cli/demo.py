"""`broker demo`: the whole flow end to end (broker.services.demo), rendered here."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from broker.cli._common import LangOpt, out, translator


def demo(
    keep_running: Annotated[bool, typer.Option(help="leave Kafka running afterwards")] = False,
    lang: LangOpt = None,
) -> None:
    """Run the whole flow end to end on the example notices: Kafka, worker, publish, show, stop."""
    from rich.console import Console

    from broker.adapters import logs
    from broker.cli.audit._render import audit_table, stored_records
    from broker.services import demo as demo_module

    logs.configure("warning")
    t = translator(lang)
    # wide enough for the tables when the output goes to a file or a CI log
    console = out if out.is_terminal else Console(width=150)

    def table(records: list[dict[str, Any]]) -> Any:
        return audit_table(stored_records(records), t)

    raise typer.Exit(demo_module.run(console, table, t, keep_running=keep_running))
