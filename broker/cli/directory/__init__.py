"""`broker directory …`: the organisations that fill each recipient role (directory.yaml).

check · list         read the directory
add · retire         change it (add.py, retire.py): validated as the file is at start,
                     written as a text edit that keeps its comments
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from broker.cli._common import out, settings
from broker.cli.directory import add, retire

app = typer.Typer(
    no_args_is_help=True, help="The organisations directory: check, list, add, retire."
)

KindOpt = Annotated[str | None, typer.Option("--kind", help="only organisations of this role")]


@app.command("check")
def check() -> None:
    """Validate the directory against the policy's recipient roles (exit 2 naming each problem)."""
    from broker.adapters.policy_files import load_directory, load_policy

    policy = load_policy(settings().policy_dir)
    directory = load_directory(policy)
    kinds = sorted({o.kind for o in directory.organisations.values()})
    unfilled = sorted(set(policy.recipients) - set(kinds))
    retired = f" ({len(directory.retired)} retired)" if directory.retired else ""
    out.print(
        f"directory OK: {len(directory.organisations)} organisations in {len(kinds)} roles"
        f"{retired}, version {directory.version}",
        highlight=False,
    )
    if unfilled:
        out.print(f"[yellow]roles no organisation fills:[/] {', '.join(unfilled)}")


@app.command("list")
def list_command(
    kind: KindOpt = None,
    show_retired: Annotated[
        bool, typer.Option("--retired/--active", help="also list the retired organisations")
    ] = True,
) -> None:
    """List the organisations: role, id (its principal), name, district or school, topic; a
    retired one with the day it was retired instead of a topic."""
    from broker.adapters.policy_files import load_directory, load_policy

    s = settings()
    policy = load_policy(s.policy_dir)
    directory = load_directory(policy)
    table = Table("role", "id (principal)", "name", "district", "school id", "delivery topic")
    every = [*directory.organisations.values()]
    every += [*directory.retired.values()] if show_retired else []
    for o in sorted(every, key=lambda o: (o.kind, o.district or "", o.id)):
        if kind is not None and o.kind != kind:
            continue
        if o.retired is None:
            topic = s.topics.delivery(directory.topics[o.id])
        else:
            topic = f"[dim]retired {o.retired}[/]"
        name = f"{o.name} [dim](example)[/]" if o.example else o.name
        table.add_row(o.kind, o.id, name, o.district or "-", o.school_id or "-", topic)
    out.print(table)


app.command("add")(add.add)
app.command("retire")(retire.retire)
