"""Topic settings bound how long a payload can outlive its retention period."""

from broker.core.deployment.topics import DAY_MS, MAX_LIFETIME_DAYS, TopicNames, topic_specs
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
