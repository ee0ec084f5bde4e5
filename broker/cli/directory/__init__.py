"""`broker directory …`: the organisations that fill each recipient role (directory.yaml)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from broker.cli._common import out, settings

app = typer.Typer(no_args_is_help=True, help="The organisations directory: check it, list it.")

KindOpt = Annotated[str | None, typer.Option("--kind", help="only organisations of this role")]


@app.command("check")
def check() -> None:
    """Validate the directory against the policy's recipient roles (exit 2 naming each problem)."""
    from broker.adapters.policy_files import load_directory, load_policy

    policy = load_policy(settings().policy_dir)
    directory = load_directory(policy)
    kinds = sorted({o.kind for o in directory.organisations.values()})
    unfilled = sorted(set(policy.recipients) - set(kinds))
    out.print(
        f"directory OK: {len(directory.organisations)} organisations in {len(kinds)} roles, "
        f"version {directory.version}",
        highlight=False,
    )
    if unfilled:
        out.print(f"[yellow]roles no organisation fills:[/] {', '.join(unfilled)}")


@app.command("list")
def list_command(kind: KindOpt = None) -> None:
    """List the organisations: role, id (its principal), name, district or school, topic."""
    from broker.adapters.policy_files import load_directory, load_policy

    s = settings()
    policy = load_policy(s.policy_dir)
    directory = load_directory(policy)
    table = Table("role", "id (principal)", "name", "district", "school id", "delivery topic")
    rows = sorted(directory.organisations.values(), key=lambda o: (o.kind, o.district or "", o.id))
    for o in rows:
        if kind is not None and o.kind != kind:
            continue
        topic = s.topic_prefix + o.topic(policy.recipients[o.kind].topic)
        name = f"{o.name} [dim](example)[/]" if o.example else o.name
        table.add_row(o.kind, o.id, name, o.district or "-", o.school_id or "-", topic)
    out.print(table)
