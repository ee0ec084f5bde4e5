"""Cluster administration: a deployment's ACLs and topics applied, the cluster's described.

The bindings come from broker.core.deployment.acl (pure); this module only talks to Kafka.
aiokafka 0.14's admin client has no create_acls/describe_acls methods, but it ships the protocol
requests (CreateAcls, DescribeAcls, DeleteAcls) and negotiates their versions: we send those
through it rather than start a JVM per ACL with Kafka's AclCommand.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest

from broker.adapters.kafka.clients import Connection, check_errors, create_topics, new_admin
from broker.adapters.kafka.tls.contexts import KafkaSecurity
from broker.adapters.policy_files import load_directory, load_policy
from broker.adapters.settings import Settings
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
    retired_principals,
    user,
)
from broker.core.deployment.topics import TopicSpec, topic_plan
from broker.core.errors import ConfigError

IN_EFFECT_TIMEOUT = 60.0  # seconds for created ACLs and topics to show
ANY = 1  # the protocol's "any" for resource type, pattern type, operation and permission
_FROM_WIRE: dict[str, dict[int, Any]] = {
    "resource": {v: k for k, v in WIRE_RESOURCE.items()},
    "pattern": {v: k for k, v in WIRE_PATTERN.items()},
    "operation": {v: k for k, v in WIRE_OPERATION.items()},
    "permission": {v: k for k, v in WIRE_PERMISSION.items()},
}


def planned(s: Settings, *, transactions: bool = True) -> tuple[list[AclBinding], list[TopicSpec]]:
    """The bindings and topics this deployment needs, from its policy directory: each active
    organisation of the directory its own principal, delivery topic and receipts topic."""
    directory = load_directory(load_policy(s.policy_dir))
    acls = bindings(directory.topics, s.topics, s.app_id, transactions=transactions)
    return acls, topic_plan(s.topics, directory, s.replication)


def unplanned(s: Settings) -> list[str]:
    """The principals whose ACLs `--prune` deletes though the plan names them no more: earlier
    versions' and the directory's retired organisations'."""
    return retired_principals(load_directory(load_policy(s.policy_dir)).retired)


async def _admin(bootstrap: str, sec: KafkaSecurity, principal: str) -> AIOKafkaAdminClient:
    admin = new_admin(Connection(bootstrap, sec.options(principal)), request_timeout_ms=10000)
    await admin.start()
    return admin


async def describe_acls(admin: AIOKafkaAdminClient) -> tuple[list[AclBinding], int]:
    """Every ACL the cluster holds (and how many used codes this module does not know)."""
    resp = await admin._send_request(DescribeAclsRequest(ANY, None, ANY, None, None, ANY, ANY))
    check_errors([(resp.error_code, resp.error_message)], "describe ACLs")
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


# aiokafka's CreateAcls and DeleteAcls requests carry one binding where the protocol carries a
# list. One request per binding is one controller write each: the 2,037 bindings of a directory
# of 200 organisations then outlast the request timeout (1,018 took 37 s on two busy cores; the
# other 1,019 in one request, 0.8 s). So many bindings go in each request.
BATCH = 500


class _CreateAcls(CreateAclsRequest):  # type: ignore[misc]  # aiokafka ships no types
    def __init__(self, acls: Sequence[AclBinding]) -> None:
        self._acls = acls

    def build(self, struct: Any) -> Any:
        return struct([_wire(b) for b in self._acls])


class _DeleteAcls(DeleteAclsRequest):  # type: ignore[misc]  # aiokafka ships no types
    def __init__(self, acls: Sequence[AclBinding]) -> None:
        self._acls = acls

    def build(self, struct: Any) -> Any:
        return struct([_wire(b) for b in self._acls])


def _batches(acls: Iterable[AclBinding]) -> list[list[AclBinding]]:
    items = list(acls)
    return [items[i : i + BATCH] for i in range(0, len(items), BATCH)]


async def create_acls(admin: AIOKafkaAdminClient, acls: Iterable[AclBinding]) -> None:
    for batch in _batches(acls):
        resp = await admin._send_request(_CreateAcls(batch))
        check_errors(resp.creation_responses, "create ACL")


async def delete_acls(admin: AIOKafkaAdminClient, acls: Iterable[AclBinding]) -> None:
    for batch in _batches(acls):
        resp = await admin._send_request(_DeleteAcls(batch))
        check_errors([(r[0], r[1]) for r in resp.filter_responses], "delete ACL")


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
    wait: float | None = IN_EFFECT_TIMEOUT,
    retired: Iterable[str] = RETIRED_PRINCIPALS,
) -> Applied:
    """Create the topics and ACLs that are missing; with ``prune``, delete the managed
    principals' ACLs that the plan no longer has. Managed: the plan's principals and the
    ``retired`` ones (``unplanned``), which the plan gives nothing. Idempotent. Unless ``wait``
    is None, return only once the broker shows every ACL and topic (a client started at once
    could otherwise be refused what it was just granted)."""
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
            managed = {b.principal for b in acls} | {user(p) for p in retired}
            result.deleted = sorted(b for b in have - want if _prunable(b, managed, prefix))
        if not dry_run:
            await create_acls(admin, result.created)
            await delete_acls(admin, result.deleted)
            if wait is not None:
                await in_effect(admin, acls, specs, timeout=wait, gone=result.deleted)
        return result
    finally:
        await admin.close()


async def in_effect(
    admin: AIOKafkaAdminClient,
    acls: Iterable[AclBinding],
    specs: Iterable[TopicSpec],
    timeout: float = IN_EFFECT_TIMEOUT,
    gone: Iterable[AclBinding] = (),
) -> int:
    """Wait until the broker shows every ACL and topic, and none of the ``gone`` (deleted)
    ACLs: the controller answers once a change is committed, and the broker applies it from the
    metadata log a moment later (until then a client is refused what it was granted, or still
    allowed what was taken away). How many looks it took; ConfigError past ``timeout``."""
    want_acls, want_topics, deleted = set(acls), {t.name for t in specs}, set(gone)
    deadline, looks = time.monotonic() + timeout, 0
    while True:
        looks += 1
        found, _ = await describe_acls(admin)
        topics = set(await admin.list_topics())
        shown = set(found)
        if want_acls <= shown and want_topics <= topics and not deleted & shown:
            return looks
        if time.monotonic() > deadline:
            raise ConfigError(f"the ACLs or topics were not all in effect after {timeout:.0f} s")
        await asyncio.sleep(0.1)


async def list_acls(
    bootstrap: str, sec: KafkaSecurity, admin_principal: str
) -> tuple[list[AclBinding], int]:
    """Every ACL the cluster holds, and how many it holds that this module cannot show."""
    admin = await _admin(bootstrap, sec, admin_principal)
    try:
        return await describe_acls(admin)
    finally:
        await admin.close()


async def partition_counts(conn: Connection, topics: list[str]) -> dict[str, int]:
    """How many partitions each of ``topics`` has (0: it does not exist)."""
    admin = new_admin(conn)
    await admin.start()
    try:
        found = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return {t["topic"]: len(t["partitions"]) for t in found}
