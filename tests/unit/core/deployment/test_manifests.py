"""broker.core.deployment.manifests and workloads: Strimzi resources and Deployments as data."""

from __future__ import annotations

import pytest

from broker.core.deployment.acl import AclBinding, Operation, PatternType, ResourceType, bindings
from broker.core.deployment.manifests import (
    ClusterSettings,
    k8s_name,
    kafka,
    kafka_topics,
    kafka_users,
    user_bindings,
)
from broker.core.deployment.topics import Replication, TopicNames, TopicSpec, topic_specs
from broker.core.deployment.workloads import workloads
from broker.core.errors import ConfigError

DELIVERIES = {"skole-1": "deliveries.school.skole-1", "skole-10": "deliveries.school.skole-10"}


@pytest.mark.parametrize("name", ["Upper", "under_score", "-dash", "dot.", "a..b", ""])
def test_a_name_kubernetes_refuses_is_a_config_error(name: str) -> None:
    """A topic or principal that cannot name an object is named in a ConfigError."""
    with pytest.raises(ConfigError, match="cannot name a Kubernetes object"):
        k8s_name(name, "topic")


def test_a_prefixed_topic_keeps_its_kafka_name() -> None:
    """spec.topicName is the Kafka topic; the object name is the same where it may be."""
    (doc,) = kafka_topics([TopicSpec("t1.notices", 3, {"retention.ms": "1"})], ClusterSettings())
    assert doc["metadata"]["name"] == "t1.notices"
    assert doc["spec"] == {
        "topicName": "t1.notices",
        "partitions": 3,
        "replicas": 3,
        "config": {"retention.ms": "1"},
    }
    with pytest.raises(ConfigError, match=r"'t_1\.notices'"):
        kafka_topics([TopicSpec("t_1.notices", 1)], ClusterSettings())


def test_replication_settings_that_cannot_work_are_refused() -> None:
    """min ISR must stay below the replication factor, the factor within the nodes."""
    with pytest.raises(ConfigError, match=r"min\.insync\.replicas"):
        kafka(ClusterSettings(replication=Replication(3, 3)))
    with pytest.raises(ConfigError, match="replication factor"):
        kafka(ClusterSettings(nodes=2))


def test_users_round_trip_to_the_bindings() -> None:
    """Each principal's bindings become its KafkaUser's rules and come back unchanged."""
    acls = bindings(DELIVERIES, TopicNames(), "app")
    users = kafka_users(acls, DELIVERIES, ClusterSettings())
    assert sorted(b for u in users for b in user_bindings(u)) == sorted(acls)
    (worker,) = [u for u in users if u["metadata"]["name"] == "broker"]
    rules = worker["spec"]["authorization"]["acls"]
    cluster_rule = next(r for r in rules if r["resource"]["type"] == "cluster")
    assert cluster_rule["resource"] == {"type": "cluster"}
    assert cluster_rule["operations"] == ["IdempotentWrite"]
    prefixed = next(r for r in rules if r["resource"].get("patternType") == "prefix")
    assert prefixed["operations"] == sorted(prefixed["operations"])


def test_the_admin_gets_a_certificate_and_no_acls() -> None:
    """The admin is a super user of the Kafka resource: its KafkaUser has no authorization."""
    users = kafka_users([], {}, ClusterSettings())
    (admin,) = [u for u in users if u["metadata"]["name"] == "admin"]
    assert admin["spec"] == {"authentication": {"type": "tls"}}
    cluster, _ = kafka(ClusterSettings())
    assert cluster["spec"]["kafka"]["authorization"]["superUsers"] == ["CN=admin"]


def test_a_binding_for_a_principal_without_a_user_is_refused() -> None:
    """No ACL is dropped silently: one for a principal the plan has no user for is an error."""
    stray = AclBinding("User:nobody", ResourceType.TOPIC, "x", PatternType.LITERAL, Operation.READ)
    with pytest.raises(ConfigError, match="User:nobody"):
        kafka_users([stray], {}, ClusterSettings())


def test_workloads_run_as_their_principals_without_root() -> None:
    """Each Deployment mounts its own principal's certificate and runs non-root."""
    docs = workloads(TopicNames("p."), "p.app")
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    assert [d["metadata"]["name"] for d in deployments] == [
        "broker-worker",
        "broker-audit-sealer",
        "broker-receipts-relay",
    ]
    for d in deployments:
        pod = d["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        (container,) = pod["containers"]
        env = {e["name"]: e["value"] for e in container["env"]}
        assert (env["BROKER_TOPIC_PREFIX"], env["BROKER_APP_ID"]) == ("p.", "p.app")
        creds = next(v for v in pod["volumes"] if v["name"] == "kafka-credentials")
        user_secret = creds["projected"]["sources"][1]["secret"]
        assert user_secret["name"] == env["BROKER_KAFKA_PRINCIPAL"]
        paths = {i["path"] for i in user_secret["items"]}
        assert paths == {f"clients/{user_secret['name']}.crt", f"clients/{user_secret['name']}.key"}


def test_every_topic_of_the_plan_has_a_topic_resource() -> None:
    """kafka_topics keeps the plan's order and count."""
    specs = topic_specs(TopicNames(), DELIVERIES)
    docs = kafka_topics(specs, ClusterSettings())
    assert [d["spec"]["topicName"] for d in docs] == [s.name for s in specs]
