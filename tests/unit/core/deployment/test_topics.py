"""Topic settings bound how long a payload can outlive its retention period."""

import pytest

from broker.core.deployment.topics import (
    DAY_MS,
    MAX_LIFETIME_DAYS,
    SINGLE_NODE,
    THREE_NODES,
    Replication,
    TopicNames,
    topic_specs,
)
from broker.core.errors import ConfigError
from broker.core.retention import RetentionRule


def test_short_lived_topics_are_gone_before_any_retention_period_ends() -> None:
    """Notices, deliveries and receipts expire (retention plus one daily segment) within
    MAX_LIFETIME_DAYS, and no retention rule may be shorter than that."""
    specs = topic_specs(TopicNames("t."), {"skole-1": "deliveries.school.skole-1"})
    short = [s for s in specs if s.config.get("retention.ms") not in (None, "-1")]
    assert {s.name for s in short} == {
        "t.notices",
        "t.notices.by-id",
        "t.deliveries.school.skole-1",
        "t.receipts.skole-1",
        "t.worker.progress",
    }
    for spec in short:
        lifetime = int(spec.config["retention.ms"]) + int(spec.config["segment.ms"])
        assert lifetime <= MAX_LIFETIME_DAYS * DAY_MS
    assert RetentionRule.model_fields["days"].metadata[0].ge == MAX_LIFETIME_DAYS


def test_every_topic_is_replicated_as_asked() -> None:
    """One copy by default; on the cluster 3 copies, 2 in sync, created with the topic's own
    settings and its min.insync.replicas."""
    assert {s.replication for s in topic_specs(TopicNames())} == {SINGLE_NODE}
    specs = topic_specs(TopicNames(), {"skole-1": "d.s"}, THREE_NODES)
    assert {s.replication for s in specs} == {THREE_NODES}
    for spec in specs:
        assert spec.kafka_config == {**spec.config, "min.insync.replicas": "2"}


def test_replication_that_cannot_work_is_refused() -> None:
    with pytest.raises(ConfigError, match="at least 1"):
        Replication(0, 1)
    with pytest.raises(ConfigError, match="from 1 to the replication factor"):
        Replication(3, 4)
    assert Replication.for_factor(1) == SINGLE_NODE
    assert Replication.for_factor(3) == THREE_NODES
