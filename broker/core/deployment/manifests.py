"""Kubernetes manifests for Strimzi: the Kafka cluster, its topics and its users, as data.

Pure: `manifests()` turns the topic plan (topics.topic_plan), the ACL bindings (acl.bindings) and
the principals into Strimzi resources (kafka.strimzi.io/v1, Strimzi 1.2): one Kafka in KRaft
mode on one KafkaNodePool of dual-role nodes, one KafkaTopic per topic, one KafkaUser (mutual
TLS) per principal carrying exactly that principal's ACLs. The Deployments of the long-running
processes are in workloads. `broker deploy k8s` writes them as YAML; nothing here reads a file.

Strimzi names a TLS user ``User:CN=<name>`` on the wire where the local secure profile maps the
CN to ``User:<name>``; the ACLs are the same, attached to the KafkaUser whose name is the CN.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from broker.core.deployment.acl import (
    CLUSTER,
    AclBinding,
    Operation,
    PatternType,
    Permission,
    Principals,
    ResourceType,
    user,
)
from broker.core.deployment.topics import THREE_NODES, Replication, TopicSpec
from broker.core.errors import ConfigError

Manifest = dict[str, Any]
STRIMZI_API = "kafka.strimzi.io/v1"
CLUSTER_LABEL = "strimzi.io/cluster"
# Kubernetes object names (RFC 1123 subdomain): a topic or principal name that is not one
# cannot name its KafkaTopic or KafkaUser.
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-.")

_OPERATION = {
    Operation.ALL: "All",
    Operation.READ: "Read",
    Operation.WRITE: "Write",
    Operation.CREATE: "Create",
    Operation.DELETE: "Delete",
    Operation.ALTER: "Alter",
    Operation.DESCRIBE: "Describe",
    Operation.DESCRIBE_CONFIGS: "DescribeConfigs",
    Operation.ALTER_CONFIGS: "AlterConfigs",
    Operation.IDEMPOTENT_WRITE: "IdempotentWrite",
}
_RESOURCE = {
    ResourceType.TOPIC: "topic",
    ResourceType.GROUP: "group",
    ResourceType.CLUSTER: "cluster",
    ResourceType.TRANSACTIONAL_ID: "transactionalId",
}
_PATTERN = {PatternType.LITERAL: "literal", PatternType.PREFIXED: "prefix"}
_PERMISSION = {Permission.ALLOW: "allow", Permission.DENY: "deny"}


@dataclass(frozen=True)
class ClusterSettings:
    """What an operator chooses about the cluster (the rest comes from policies/)."""

    name: str = "broker-kafka"
    kafka_version: str = "4.2.1"  # of those Strimzi 1.2 runs, the nearest to the local 4.1.1
    nodes: int = 3  # KRaft voters and brokers (dual role)
    replication: Replication = THREE_NODES  # one node down: producers with acks=all still write
    storage: str = "100Gi"
    port: int = 9093  # the TLS listener

    @property
    def bootstrap(self) -> str:
        """The bootstrap address Strimzi gives the TLS listener inside the namespace."""
        return f"{self.name}-kafka-bootstrap:{self.port}"

    @property
    def ca_secret(self) -> str:
        """The Secret with the cluster CA's certificate (``ca.crt``) that clients trust."""
        return f"{self.name}-cluster-ca-cert"


DEFAULT_CLUSTER = ClusterSettings()
PRINCIPALS = Principals()


def k8s_name(name: str, what: str) -> str:
    """``name`` if it is a valid Kubernetes object name, else a ConfigError naming it."""
    ok = 0 < len(name) <= 253 and set(name) <= _NAME_CHARS
    if not ok or not name[0].isalnum() or not name[-1].isalnum() or ".." in name:
        raise ConfigError(
            f"{what}: '{name}' cannot name a Kubernetes object (lower-case letters, digits, '-', "
            "'.'; starting and ending with a letter or digit)"
        )
    return name


def _meta(name: str, cluster: ClusterSettings, component: str) -> dict[str, Any]:
    return {
        "name": name,
        "labels": {
            CLUSTER_LABEL: cluster.name,
            "app.kubernetes.io/part-of": "oslo-share-broker",
            "app.kubernetes.io/component": component,
        },
    }


def broker_config(cluster: ClusterSettings) -> dict[str, Any]:
    """The Kafka settings of server.properties that a deployment keeps, with replication for
    ``cluster.nodes`` nodes. Listeners, TLS stores, principal mapping and the authorizer are
    Strimzi's to set (spec.kafka.listeners and authorization)."""
    rf, isr = cluster.replication.factor, cluster.replication.min_insync
    return {
        "default.replication.factor": rf,
        "min.insync.replicas": isr,
        "offsets.topic.replication.factor": rf,
        "transaction.state.log.replication.factor": rf,
        "transaction.state.log.min.isr": isr,
        "share.coordinator.state.topic.replication.factor": rf,
        "share.coordinator.state.topic.min.isr": isr,
        # topics are created explicitly: by the KafkaTopics below
        "auto.create.topics.enable": False,
        "num.partitions": 1,
        "ssl.enabled.protocols": "TLSv1.3,TLSv1.2",
    }


def kafka(cluster: ClusterSettings, principals: Principals = PRINCIPALS) -> list[Manifest]:
    """The Kafka resource and its node pool: KRaft, mutual TLS only, deny by default."""
    if cluster.replication.min_insync >= cluster.replication.factor:
        raise ConfigError("min.insync.replicas: must be below the replication factor")
    if cluster.replication.factor > cluster.nodes:
        raise ConfigError("replication factor: more replicas than nodes")
    pool = {
        "apiVersion": STRIMZI_API,
        "kind": "KafkaNodePool",
        "metadata": _meta("dual-role", cluster, "kafka"),
        "spec": {
            "replicas": cluster.nodes,
            "roles": ["controller", "broker"],
            "storage": {
                "type": "jbod",
                "volumes": [
                    {
                        "id": 0,
                        "type": "persistent-claim",
                        "size": cluster.storage,
                        "deleteClaim": False,
                        "kraftMetadata": "shared",
                    }
                ],
            },
            "resources": {
                "requests": {"cpu": "500m", "memory": "2Gi"},
                "limits": {"memory": "2Gi"},
            },
        },
    }
    meta = _meta(cluster.name, cluster, "kafka")
    del meta["labels"][CLUSTER_LABEL]  # the cluster itself carries no cluster label
    resource = {
        "apiVersion": STRIMZI_API,
        "kind": "Kafka",
        "metadata": meta,
        "spec": {
            "kafka": {
                "version": cluster.kafka_version,
                "listeners": [
                    {
                        "name": "tls",
                        "port": cluster.port,
                        "type": "internal",
                        "tls": True,
                        "authentication": {"type": "tls"},
                    }
                ],
                "authorization": {
                    "type": "simple",
                    "superUsers": [f"CN={principals.admin}"],
                },
                "config": broker_config(cluster),
            },
            "entityOperator": {"topicOperator": {}, "userOperator": {}},
        },
    }
    return [resource, pool]


def kafka_topics(specs: Iterable[TopicSpec], cluster: ClusterSettings) -> list[Manifest]:
    """One KafkaTopic per topic of the plan, with its partitions and settings."""
    out = []
    for spec in specs:
        doc: Manifest = {
            "apiVersion": STRIMZI_API,
            "kind": "KafkaTopic",
            "metadata": _meta(k8s_name(spec.name, "topic"), cluster, "topic"),
            "spec": {
                "topicName": spec.name,
                "partitions": spec.partitions,
                "replicas": cluster.replication.factor,
                "config": dict(spec.config),
            },
        }
        if spec.description:
            doc["metadata"]["annotations"] = {"oslo-share-broker/description": spec.description}
        out.append(doc)
    return out


def _rules(acls: Iterable[AclBinding]) -> list[dict[str, Any]]:
    """A principal's bindings as Strimzi ACL rules: one rule per resource pattern, its
    operations listed."""
    ops: dict[tuple[ResourceType, str, PatternType, Permission, str], set[str]] = defaultdict(set)
    for b in acls:
        ops[(b.resource_type, b.resource_name, b.pattern_type, b.permission, b.host)].add(
            _OPERATION[b.operation]
        )
    rules = []
    for (rtype, name, pattern, permission, host), names in sorted(ops.items()):
        resource: dict[str, str] = {"type": _RESOURCE[rtype]}
        if rtype is not ResourceType.CLUSTER:  # Strimzi's cluster resource has no name
            resource |= {"name": name, "patternType": _PATTERN[pattern]}
        rules.append(
            {
                "type": _PERMISSION[permission],
                "resource": resource,
                "operations": sorted(names),
                "host": host,
            }
        )
    return rules


def kafka_users(
    acls: Sequence[AclBinding],
    organisations: Iterable[str],
    cluster: ClusterSettings,
    principals: Principals = PRINCIPALS,
) -> list[Manifest]:
    """One KafkaUser (authentication tls) per client principal with that principal's ACLs; the
    admin is a super user (Kafka's superUsers) and gets a certificate but no ACLs."""
    names = principals.clients(organisations)
    by_principal: dict[str, list[AclBinding]] = defaultdict(list)
    for b in acls:
        by_principal[b.principal].append(b)
    unknown = set(by_principal) - {user(n) for n in names}
    if unknown:
        raise ConfigError(f"acls: bindings for principals with no KafkaUser: {sorted(unknown)}")
    out = []
    for name in names:
        spec: dict[str, Any] = {"authentication": {"type": "tls"}}
        if name not in principals.super_users():
            spec["authorization"] = {"type": "simple", "acls": _rules(by_principal[user(name)])}
        out.append(
            {
                "apiVersion": STRIMZI_API,
                "kind": "KafkaUser",
                "metadata": _meta(k8s_name(name, "principal"), cluster, "user"),
                "spec": spec,
            }
        )
    return out


def user_bindings(kafka_user: Manifest) -> list[AclBinding]:
    """The ACL bindings a KafkaUser grants, back in acl's terms (the inverse of kafka_users)."""
    from_op = {v: k for k, v in _OPERATION.items()}
    from_resource = {v: k for k, v in _RESOURCE.items()}
    from_pattern = {v: k for k, v in _PATTERN.items()}
    from_permission = {v: k for k, v in _PERMISSION.items()}
    who = user(kafka_user["metadata"]["name"])
    out = []
    for rule in kafka_user["spec"].get("authorization", {}).get("acls", []):
        res = rule["resource"]
        rtype = from_resource[res["type"]]
        name = CLUSTER if rtype is ResourceType.CLUSTER else res["name"]
        pattern = from_pattern[res.get("patternType", "literal")]
        for op in rule["operations"]:
            out.append(
                AclBinding(
                    who,
                    rtype,
                    name,
                    pattern,
                    from_op[op],
                    from_permission[rule.get("type", "allow")],
                    rule.get("host", "*"),
                )
            )
    return out


def manifests(
    specs: Sequence[TopicSpec],
    acls: Sequence[AclBinding],
    organisations: Iterable[str],
    cluster: ClusterSettings = DEFAULT_CLUSTER,
    principals: Principals = PRINCIPALS,
) -> list[Manifest]:
    """The cluster, its topics and its users, in the order they are applied."""
    return [
        *kafka(cluster, principals),
        *kafka_topics(specs, cluster),
        *kafka_users(acls, organisations, cluster, principals),
    ]
