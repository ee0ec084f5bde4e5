"""`broker acl …`: operators apply and list the Kafka ACLs generated from policies/.

The bindings come from broker.core.deployment.acl (pure); broker.adapters.kafka.admin applies
and lists them, as the admin principal; this module parses, calls and renders.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Annotated

import typer
from rich.table import Table

from broker.adapters.kafka.admin import apply, list_acls, planned, unplanned
from broker.adapters.kafka.tls.contexts import KafkaSecurity
from broker.cli._common import fail, out, settings
from broker.core.deployment.acl import AclBinding, Principals

app = typer.Typer(no_args_is_help=True, help="Operators: Kafka ACLs (secure profile).")


def security() -> KafkaSecurity:
    return settings().kafka


# ---------------------------------------------------------------- commands


def _table(rows: Iterable[tuple[AclBinding, str]], title: str) -> Table:
    table = Table("principal", "resource", "name", "pattern", "operation", "permission", "status")
    table.title = title
    style = {"created": "green", "deleted": "red", "would create": "green", "would delete": "red"}
    for b, status in rows:
        table.add_row(
            b.principal.removeprefix("User:"),
            b.resource_type.value.lower(),
            b.resource_name,
            b.pattern_type.value.lower(),
            b.operation.value.lower(),
            b.permission.value.lower(),
            f"[{style.get(status, 'dim')}]{status}[/]",
        )
    return table


AdminOpt = Annotated[str, typer.Option(help="principal to connect as (a super user)")]
ADMIN = Principals().admin


@app.command("plan")
def plan_command() -> None:
    """Show the ACLs policies/ calls for (no Kafka needed)."""
    acls, _ = planned(settings())
    out.print(_table(((b, "planned") for b in acls), f"{len(acls)} ACLs planned"))


@app.command("apply")
def apply_command(
    prune: Annotated[
        bool,
        typer.Option(
            help="delete managed principals' ACLs that the plan no longer has (a retired "
            "organisation's among them)"
        ),
    ] = False,
    dry_run: Annotated[bool, typer.Option(help="show what would change; change nothing")] = False,
    admin: AdminOpt = ADMIN,
) -> None:
    """Create the topics (receipts included) and the ACLs generated from policies/."""
    s, sec = settings(), security()
    if sec.profile.value == "plaintext":
        fail("acl apply: BROKER_KAFKA_PROFILE is plaintext; ACLs need the secure profile")
    acls, specs = planned(s)
    result = asyncio.run(
        apply(
            s.bootstrap,
            sec,
            acls,
            specs,
            prefix=s.topic_prefix,
            prune=prune,
            dry_run=dry_run,
            admin_principal=admin,
            retired=unplanned(s),
        )
    )
    would = "would " if dry_run else ""
    rows = [(b, f"{would}create" + ("" if dry_run else "d")) for b in result.created]
    rows += [(b, f"{would}delete" + ("" if dry_run else "d")) for b in result.deleted]
    rows += [(b, "exists") for b in result.kept]
    out.print(_table(sorted(rows), f"ACLs on {s.bootstrap}"))
    if result.topics_created:
        out.print(f"created topics: {', '.join(result.topics_created)}")
    out.print(
        f"{len(result.created)} {would}created, {len(result.deleted)} {would}deleted, "
        f"{len(result.kept)} unchanged"
    )


@app.command("list")
def list_command(
    principal: Annotated[str | None, typer.Option(help="only this principal's")] = None,
    admin: AdminOpt = ADMIN,
) -> None:
    """List the ACLs the cluster holds."""
    s, sec = settings(), security()
    if sec.profile.value == "plaintext":
        fail("acl list: BROKER_KAFKA_PROFILE is plaintext; ACLs exist in the secure profile")
    found, unknown = asyncio.run(list_acls(s.bootstrap, sec, admin))
    if unknown:
        out.print(f"[yellow]{unknown} ACL(s) use operations this tool does not show[/]")
    if principal:
        found = [b for b in found if b.principal in (principal, f"User:{principal}")]
    out.print(_table(((b, "exists") for b in found), f"{len(found)} ACLs on {s.bootstrap}"))


if __name__ == "__main__":
    app()
