"""Who may do what on Kafka: ACL bindings generated from the organisations directory.

Pure: `bindings()` turns the organisations' delivery topics and the topic names into the
complete list of ALLOW bindings for the secure profile (the broker denies everything else:
`allow.everyone.if.no.acl.found` is false). `allows()` answers a question the way Kafka's
StandardAuthorizer would, so tests can enumerate every forbidden (principal, topic, operation)
pair from the same data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from broker.core.deployment.topics import TopicNames
from broker.core.errors import ConfigError
from broker.core.notices import SENDERS

PRINCIPAL_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{0,62}$")
CLUSTER = "kafka-cluster"  # the one name Kafka gives the cluster resource
# Principals earlier versions granted ACLs to: `broker acl apply --prune` deletes theirs.
# "police" was the one publishing principal every sender class had to use.
RETIRED_PRINCIPALS = ("police",)


class ResourceType(StrEnum):
    TOPIC = "TOPIC"
    GROUP = "GROUP"
    CLUSTER = "CLUSTER"
    TRANSACTIONAL_ID = "TRANSACTIONAL_ID"


class PatternType(StrEnum):
    LITERAL = "LITERAL"
    PREFIXED = "PREFIXED"


class Operation(StrEnum):
    ALL = "ALL"
    READ = "READ"
    WRITE = "WRITE"
    CREATE = "CREATE"
    DELETE = "DELETE"
    ALTER = "ALTER"
    DESCRIBE = "DESCRIBE"
    DESCRIBE_CONFIGS = "DESCRIBE_CONFIGS"
    ALTER_CONFIGS = "ALTER_CONFIGS"
    IDEMPOTENT_WRITE = "IDEMPOTENT_WRITE"


class Permission(StrEnum):
    ALLOW = "ALLOW"
    DENY = "DENY"


# Kafka protocol codes (org.apache.kafka.common.acl / resource enums), for the admin requests.
WIRE_RESOURCE = {
    ResourceType.TOPIC: 2,
    ResourceType.GROUP: 3,
    ResourceType.CLUSTER: 4,
    ResourceType.TRANSACTIONAL_ID: 5,
}
WIRE_PATTERN = {PatternType.LITERAL: 3, PatternType.PREFIXED: 4}
WIRE_OPERATION = {
    Operation.ALL: 2,
    Operation.READ: 3,
    Operation.WRITE: 4,
    Operation.CREATE: 5,
    Operation.DELETE: 6,
    Operation.ALTER: 7,
    Operation.DESCRIBE: 8,
    Operation.DESCRIBE_CONFIGS: 10,
    Operation.ALTER_CONFIGS: 11,
    Operation.IDEMPOTENT_WRITE: 12,
}
WIRE_PERMISSION = {Permission.DENY: 2, Permission.ALLOW: 3}

# Kafka grants these implicitly (AclEntry.supportedOperations / StandardAuthorizerData).
_IMPLIES = {
    Operation.DESCRIBE: {Operation.READ, Operation.WRITE, Operation.DELETE, Operation.ALTER},
    Operation.DESCRIBE_CONFIGS: {Operation.ALTER_CONFIGS},
}


@dataclass(frozen=True, order=True)
class AclBinding:
    """One ACL: ``principal`` may (or may not) do ``operation`` on the resource pattern."""

    principal: str  # "User:<name>"
    resource_type: ResourceType
    resource_name: str
    pattern_type: PatternType
    operation: Operation
    permission: Permission = Permission.ALLOW
    host: str = "*"


@dataclass(frozen=True)
class Principals:
    """Principal names (the CN of each client certificate in the secure profile)."""

    admin: str = "admin"
    node: str = "kafka-node"  # the broker/controller itself (inter-broker, controller listener)
    worker: str = "broker"
    auditor: str = "auditor"
    sealer: str = "audit-sealer"  # reads the audit log in order, appends signed checkpoints
    relay: str = "receipts-relay"  # copies recipients' receipts into the audit log
    reviewer: str = "reviewer"  # records the after-the-fact review of urgent disclosures
    directory_admin: str = "directory-admin"  # records changes of the organisations directory

    @staticmethod
    def recipient(organisation: str) -> str:
        """A receiving organisation's principal. A fixed prefix: an organisation id can never
        become "admin" or "broker"."""
        return f"recipient.{organisation}"

    @staticmethod
    def publisher(sender: str) -> str:
        """The principal a sender class publishes with: one per class, so a school's or child
        welfare's systems hold no certificate that writes as the police."""
        if sender not in SENDERS:
            raise ConfigError(f"sender: not a sender class (one of {', '.join(SENDERS)})")
        return f"publisher.{sender}"

    def publishers(self) -> list[str]:
        return [self.publisher(s) for s in SENDERS]

    def super_users(self) -> list[str]:
        return [self.admin, self.node]

    def clients(self, organisations: Iterable[str]) -> list[str]:
        """Every principal that gets a client certificate: the broker's own, and each receiving
        organisation's (directory.yaml)."""
        names = [self.admin, self.worker, *self.publishers(), self.auditor, self.sealer]
        names += [self.relay, self.reviewer, self.directory_admin]
        names += [self.recipient(o) for o in sorted(organisations)]
        for name in names:
            check_principal(name)
        return names


def retired_principals(retired_organisations: Iterable[str]) -> list[str]:
    """The principals that once had ACLs and have none now, whose ACLs `broker acl apply
    --prune` deletes: earlier versions' (RETIRED_PRINCIPALS) and each retired organisation's
    (the directory's ``retired``)."""
    return [*RETIRED_PRINCIPALS, *(Principals.recipient(o) for o in sorted(retired_organisations))]


def check_principal(name: str) -> str:
    if not PRINCIPAL_NAME.match(name):
        raise ConfigError(
            f"principal: '{name}' is not a valid principal name "
            f"(lower-case letters, digits, '.', '-'; at most 63 characters)"
        )
    return name


def is_auditor(principal: str) -> bool:
    """The principals the auditor page admits: ``auditor`` and ``auditor.<name>``."""
    base = Principals().auditor
    if not PRINCIPAL_NAME.match(principal):
        return False
    return principal == base or (
        principal.startswith(base + ".") and len(principal) > len(base) + 1
    )


def user(name: str) -> str:
    return f"User:{name}"


def group_prefix(names: TopicNames, principal: str) -> str:
    """Consumer groups a principal may use start with this (the dot ends the principal's name,
    so organisation 'skole-1' cannot use the groups of an organisation 'skole-10')."""
    return f"{names.prefix}{principal}."


def bindings(
    deliveries: Mapping[str, str],
    names: TopicNames,
    app_id: str,
    principals: Principals = Principals(),
    *,
    transactions: bool = True,
) -> list[AclBinding]:
    """Every ALLOW binding of the secure profile. ``deliveries``: organisation id → its delivery
    topic (before the prefix), the directory's ``topics``. ``transactions``: the worker may use
    Kafka transactions (exactly-once), i.e. transactional ids under its app id and idempotent
    writes. The admin and the node are super users and need no binding."""
    out: list[AclBinding] = []
    topic, group = ResourceType.TOPIC, ResourceType.GROUP
    lit, pre = PatternType.LITERAL, PatternType.PREFIXED
    R, W, D = Operation.READ, Operation.WRITE, Operation.DESCRIBE

    def allow(
        who: str, rtype: ResourceType, name: str, pattern: PatternType, *ops: Operation
    ) -> None:
        out.extend(AclBinding(user(check_principal(who)), rtype, name, pattern, op) for op in ops)

    # each sender class: publish notices, nothing else (which notice types a class may send
    # is the worker's check, against the key registry)
    for publisher in principals.publishers():
        allow(publisher, topic, names.notices, lit, W, D)

    # the worker: read notices, write every output, its own group and internal topics
    worker = principals.worker
    allow(worker, topic, names.notices, lit, R, D)
    for name in (names.audit, names.dead_letter):
        allow(worker, topic, name, lit, W, D)
    # its own restart state: no other principal may read or write it (only the worker steers
    # the worker; the audit log's other writers cannot)
    allow(worker, topic, names.progress, lit, R, W, D)
    # and its routed inputs: another principal writing there could steer a replay past the
    # guard that owns its id
    allow(worker, topic, names.routed, lit, R, W, D)
    for delivery_topic in sorted(set(deliveries.values())):
        allow(worker, topic, names.delivery(delivery_topic), lit, W, D)
    allow(worker, group, app_id, lit, R, D)
    # Faust's changelog/repartition topics are named "<app id>-..."
    allow(worker, topic, f"{app_id}-", pre, Operation.CREATE, R, W, D)
    if transactions:
        allow(worker, ResourceType.TRANSACTIONAL_ID, app_id, pre, W, D)
        allow(worker, ResourceType.CLUSTER, CLUSTER, lit, Operation.IDEMPOTENT_WRITE)

    # each organisation: its own deliveries in, its own receipts out, nothing of another's
    for org in sorted(deliveries):
        who = principals.recipient(org)
        allow(who, topic, names.delivery(deliveries[org]), lit, R, D)
        allow(who, topic, names.receipts(org), lit, W, D)
        allow(who, group, group_prefix(names, who), pre, R, D)

    # auditors: the audit log
    allow(principals.auditor, topic, names.audit, lit, R, D)
    allow(principals.auditor, group, group_prefix(names, principals.auditor), pre, R, D)
    # the audit log's own writers besides the worker, each with only its part
    allow(principals.sealer, topic, names.audit, lit, R, W, D)
    allow(principals.reviewer, topic, names.audit, lit, W, D)
    allow(principals.directory_admin, topic, names.audit, lit, W, D)
    allow(principals.relay, topic, names.audit, lit, W, D)
    for org in sorted(deliveries):
        allow(principals.relay, topic, names.receipts(org), lit, R, D)
    allow(principals.relay, group, f"{app_id}-receipts-relay", lit, R, D)
    return sorted(set(out))


def _matches(b: AclBinding, rtype: ResourceType, name: str) -> bool:
    if b.resource_type != rtype:
        return False
    if b.pattern_type is PatternType.PREFIXED:
        return name.startswith(b.resource_name)
    return b.resource_name in (name, "*")


def allows(
    acls: Iterable[AclBinding],
    principal: str,
    rtype: ResourceType,
    name: str,
    operation: Operation,
    *,
    super_users: Iterable[str] = (),
) -> bool:
    """Would Kafka's StandardAuthorizer allow it (deny wins; no match: deny)?"""
    who = user(principal)
    if who in {user(s) for s in super_users}:
        return True
    grants = {operation, Operation.ALL} | _IMPLIES.get(operation, set())
    relevant = [
        b
        for b in acls
        if b.principal in (who, "User:*") and b.host == "*" and _matches(b, rtype, name)
    ]
    # implication works for ALLOW only: DENY READ does not deny DESCRIBE
    denies = {operation, Operation.ALL}
    if any(b.permission is Permission.DENY and b.operation in denies for b in relevant):
        return False
    return any(b.permission is Permission.ALLOW and b.operation in grants for b in relevant)
