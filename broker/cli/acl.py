"""`broker acl …`: operators apply and list the Kafka ACLs generated from policies/.

The bindings come from broker.core.deployment.acl (pure); this module only talks to Kafka, as the
admin
principal. aiokafka 0.14's admin client has no create_acls/describe_acls methods, but it ships
the protocol requests (CreateAcls, DescribeAcls, DeleteAcls) and negotiates their versions: we
send those through it rather than start a JVM per ACL with Kafka's AclCommand.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer
from rich.table import Table

from broker.adapters.kafka.security import KafkaSecurity
from broker.adapters.settings import Settings
from broker.cli._common import fail, out, settings
from broker.core.deployment.acl import (
    RETIRED_PRINCIPALS,
    WIRE_OPERATION,
    WIRE_PATTERN,
    WIRE_PERMISSION,
    WIRE_RESOURCE,
    AclBinding,
    Principals,
    ResourceType,
    bindings,
    user,
)
from broker.core.deployment.topics import TopicSpec, policy_topic_specs
from broker.core.errors import ConfigError

app = typer.Typer(no_args_is_help=True, help="Operators: Kafka ACLs (secure profile).")

ANY = 1  # the protocol's "any" for resource type, pattern type, operation and permission
_FROM_WIRE: dict[str, dict[int, Any]] = {
    "resource": {v: k for k, v in WIRE_RESOURCE.items()},
    "pattern": {v: k for k, v in WIRE_PATTERN.items()},
    "operation": {v: k for k, v in WIRE_OPERATION.items()},
    "permission": {v: k for k, v in WIRE_PERMISSION.items()},
}


def security() -> KafkaSecurity:
    return KafkaSecurity.from_env(os.environ)


def planned(s: Settings, *, transactions: bool = True) -> tuple[list[AclBinding], list[TopicSpec]]:
    """The bindings and topics this deployment needs, from its policy directory."""
    from broker.adapters.policy_files import load_policy

    policy = load_policy(s.policy_dir)
    recipients = {r.id: r.topic for r in policy.recipients.values()}
    acls = bindings(recipients, s.topics, s.app_id, transactions=transactions)
    return acls, policy_topic_specs(s.topics, policy)


# ---------------------------------------------------------------- Kafka (admin API)


async def _admin(bootstrap: str, sec: KafkaSecurity, principal: str) -> Any:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=10000, **sec.options(principal)
    )
    await admin.start()
    return admin


def _check(errors: Iterable[tuple[int, str | None]], what: str) -> None:
    from aiokafka.errors import for_code

    for code, message in errors:
        if code:
            raise ConfigError(f"{what}: {for_code(code).__name__} {message or ''}".rstrip())


async def describe_acls(admin: Any) -> tuple[list[AclBinding], int]:
    """Every ACL the cluster holds (and how many used codes this module does not know)."""
    from aiokafka.protocol.admin import DescribeAclsRequest

    resp = await admin._send_request(DescribeAclsRequest(ANY, None, ANY, None, None, ANY, ANY))
    _check([(resp.error_code, resp.error_message)], "describe ACLs")
    found, unknown = [], 0
    for rtype, rname, pattern, acls in resp.resources:
        for principal, host, op, perm in acls:
            try:
                found.append(
                    AclBinding(
                        principal,
                        _FROM_WIRE["resource"][rtype],
                        rname,
                        _FROM_WIRE["pattern"][pattern],
                        _FROM_WIRE["operation"][op],
                        _FROM_WIRE["permission"][perm],
                        host,
                    )
                )
            except KeyError:
                unknown += 1
    return sorted(found), unknown


def _wire(b: AclBinding) -> tuple[int, str, int, str, str, int, int]:
    return (
        WIRE_RESOURCE[b.resource_type],
        b.resource_name,
        WIRE_PATTERN[b.pattern_type],
        b.principal,
        b.host,
        WIRE_OPERATION[b.operation],
        WIRE_PERMISSION[b.permission],
    )


async def create_acls(admin: Any, acls: Iterable[AclBinding]) -> None:
    from aiokafka.protocol.admin import CreateAclsRequest

    # aiokafka's request carries one binding; send them concurrently
    requests = [admin._send_request(CreateAclsRequest(*_wire(b))) for b in acls]
    for resp in await asyncio.gather(*requests):
        _check(resp.creation_responses, "create ACL")


async def delete_acls(admin: Any, acls: Iterable[AclBinding]) -> None:
    from aiokafka.protocol.admin import DeleteAclsRequest

    requests = [admin._send_request(DeleteAclsRequest(*_wire(b))) for b in acls]
    for resp in await asyncio.gather(*requests):
        _check([(r[0], r[1]) for r in resp.filter_responses], "delete ACL")


async def create_topics(admin: Any, specs: Iterable[TopicSpec]) -> list[str]:
    from aiokafka.admin import NewTopic

    existing = set(await admin.list_topics())
    new = [
        NewTopic(s.name, s.partitions, 1, topic_configs=s.config)
        for s in specs
        if s.name not in existing
    ]
    if new:
        resp = await admin.create_topics(new)
        _check([(t[1], t[2] if len(t) > 2 else None) for t in resp.topic_errors], "create topic")
    return [t.name for t in new]


@dataclass
class Applied:
    created: list[AclBinding] = field(default_factory=list)
    kept: list[AclBinding] = field(default_factory=list)
    deleted: list[AclBinding] = field(default_factory=list)
    topics_created: list[str] = field(default_factory=list)


def _prunable(b: AclBinding, managed: set[str], prefix: str) -> bool:
    """An ACL `--prune` may delete: a managed principal's, on this deployment's resources."""
    if b.principal not in managed:
        return False
    if b.resource_type is ResourceType.CLUSTER:
        return not prefix
    return b.resource_name.startswith(prefix)


async def apply(
    bootstrap: str,
    sec: KafkaSecurity,
    acls: list[AclBinding],
    specs: list[TopicSpec],
    *,
    prefix: str = "",
    prune: bool = False,
    dry_run: bool = False,
    admin_principal: str = Principals().admin,
) -> Applied:
    """Create the topics and ACLs that are missing; with ``prune``, delete the managed
    principals' ACLs that the plan no longer has. Idempotent."""
    admin = await _admin(bootstrap, sec, admin_principal)
    try:
        result = Applied()
        if not dry_run:
            result.topics_created = await create_topics(admin, specs)
        existing, _ = await describe_acls(admin)
        have, want = set(existing), set(acls)
        result.kept = sorted(want & have)
        result.created = sorted(want - have)
        if prune:
            managed = {b.principal for b in acls} | {user(p) for p in RETIRED_PRINCIPALS}
            result.deleted = sorted(b for b in have - want if _prunable(b, managed, prefix))
        if not dry_run:
            await create_acls(admin, result.created)
            await delete_acls(admin, result.deleted)
        return result
    finally:
        await admin.close()


async def list_acls(bootstrap: str, sec: KafkaSecurity, admin_principal: str) -> list[AclBinding]:
    admin = await _admin(bootstrap, sec, admin_principal)
    try:
        found, unknown = await describe_acls(admin)
        if unknown:
            out.print(f"[yellow]{unknown} ACL(s) use operations this tool does not show[/]")
        return found
    finally:
        await admin.close()


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
        bool, typer.Option(help="delete managed principals' ACLs that the plan no longer has")
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
    found = asyncio.run(list_acls(s.bootstrap, sec, admin))
    if principal:
        found = [b for b in found if b.principal in (principal, f"User:{principal}")]
    out.print(_table(((b, "exists") for b in found), f"{len(found)} ACLs on {s.bootstrap}"))


if __name__ == "__main__":
    app()
