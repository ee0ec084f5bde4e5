"""`broker`: one command for each user. Thin: parsing, I/O and tables; the core decides.

Each group or command lives in a module of its own and imports what it needs when it runs, so
`broker --help` stays fast.
"""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from broker.cli import (
    acl,
    audit,
    demo,
    deploy,
    directory,
    keys,
    policy,
    publish,
    retention,
    schemas,
    subscribe,
    topics,
    worker,
)
from broker.cli._common import err
from broker.core.errors import BrokerError

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold notices or keys
    help="Inter-agency information-sharing broker (police → school, child welfare, SaLTo).",
)
app.command("publish")(publish.publish)  # publishers: police, schools, child welfare
app.command("worker")(worker.worker)
app.command("subscribe")(subscribe.subscribe)  # recipients
app.command("demo")(demo.demo)
app.add_typer(audit.app, name="audit")
app.add_typer(policy.app, name="policy")
app.add_typer(directory.app, name="directory")
app.add_typer(keys.app, name="keys")
app.add_typer(retention.app, name="retention")
app.add_typer(acl.app, name="acl")
app.add_typer(topics.app, name="topics")
app.add_typer(deploy.app, name="deploy")
app.add_typer(schemas.app, name="schemas")


def main() -> None:
    try:
        app()
    except BrokerError as exc:
        err.print(f"[bold red]error ({exc.code}):[/] {escape(str(exc))}", highlight=False)
        sys.exit(2)
