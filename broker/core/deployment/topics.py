"""Topic names and their settings: one definition for the local broker, compose and tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from broker.core.errors import ConfigError

if TYPE_CHECKING:
    from broker.core.directory import Directory

# Notices and deliveries are kept two weeks: long enough to replay after an outage, short
# enough not to become a second register. The audit log and dead letters never expire.
DAY_MS = 24 * 3600 * 1000
TWO_WEEKS_MS = str(14 * DAY_MS)
# Kafka deletes whole segments: with a segment rolled daily, a record is gone at most one day
# after its retention ends. Retention periods (policies/retention.yaml) may not be shorter than
# this, so that a purge never leaves a readable payload on Kafka.
SHORT_LIVED = {"retention.ms": TWO_WEEKS_MS, "segment.ms": str(DAY_MS)}
MAX_LIFETIME_DAYS = 15
FOREVER = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}
NOTICE_PARTITIONS = 3
# The worker's progress: the latest record per key (compaction), and nothing older than a week
# (a replay-guard entry is needed for the notices' 48 h window; a partition's floor is
# rewritten with every batch and is only needed while a transaction may still be landing).
PROGRESS = {
    "cleanup.policy": "compact,delete",
    "retention.ms": str(7 * DAY_MS),
    "segment.ms": str(DAY_MS),
    "min.compaction.lag.ms": "0",
}


@dataclass(frozen=True)
class Replication:
    """How many copies Kafka keeps of each partition (``factor``) and how many must hold a write
    before a producer with acks=all is told it is written (``min_insync``, Kafka's
    ``min.insync.replicas``). One node: 1/1. Three nodes: 3/2, so one node may be down and
    producers still write, and no acknowledged write is on one disk only."""

    factor: int = 1
    min_insync: int = 1

    def __post_init__(self) -> None:
        if self.factor < 1:
            raise ConfigError(f"replication factor: must be at least 1, got {self.factor}")
        if not 1 <= self.min_insync <= self.factor:
            raise ConfigError(
                f"min.insync.replicas: must be from 1 to the replication factor ({self.factor}), "
                f"got {self.min_insync}"
            )

    @classmethod
    def for_factor(cls, factor: int) -> Replication:
        """``factor`` copies, all but one needed for a write (1/1, 2/1, 3/2, …)."""
        return cls(factor, max(1, factor - 1))


SINGLE_NODE = Replication(1, 1)
THREE_NODES = Replication(3, 2)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)
    description: str = ""
    replication: Replication = SINGLE_NODE

    @property
    def kafka_config(self) -> dict[str, str]:
        """The topic's settings as created: its own and its min.insync.replicas."""
        return {**self.config, "min.insync.replicas": str(self.replication.min_insync)}


@dataclass(frozen=True)
class TopicNames:
    """Topic names under an optional prefix (tests and parallel deployments use their own)."""

    prefix: str = ""

    @property
    def notices(self) -> str:
        return f"{self.prefix}notices"

    @property
    def dead_letter(self) -> str:
        return f"{self.prefix}notices.dead-letter"

    @property
    def audit(self) -> str:
        return f"{self.prefix}audit"

    @property
    def routed(self) -> str:
        """Every input again, keyed by the child it claims: one partition owns each child and so
        each notice id (broker.core.repartition); only the worker may read or write it."""
        return f"{self.prefix}notices.by-id"

    @property
    def progress(self) -> str:
        """The worker's own restart state; only the worker may read or write it."""
        return f"{self.prefix}worker.progress"

    def delivery(self, topic: str) -> str:
        """An organisation's delivery topic (the directory's ``topics``), under the prefix."""
        return f"{self.prefix}{topic}"

    def receipts(self, organisation: str) -> str:
        """Where an organisation's system reports a delivery received and opened."""
        return f"{self.prefix}receipts.{organisation}"


def topic_specs(
    names: TopicNames,
    deliveries: Mapping[str, str] | None = None,
    replication: Replication = SINGLE_NODE,
) -> list[TopicSpec]:
    """The broker's own topics and, for each organisation in ``deliveries`` (organisation id →
    its delivery topic before the prefix), its delivery and receipts topics, each replicated as
    ``replication`` says."""
    return [dataclasses.replace(s, replication=replication) for s in _specs(names, deliveries)]


def _specs(names: TopicNames, deliveries: Mapping[str, str] | None) -> list[TopicSpec]:
    specs = [
        TopicSpec(
            names.notices,
            NOTICE_PARTITIONS,
            dict(SHORT_LIVED),
            "notices published by police systems, keyed by a keyed hash of the child",
        ),
        TopicSpec(
            names.dead_letter,
            1,
            dict(FOREVER),
            "inputs that were not valid notices, with the reason in a header",
        ),
        # One partition: the order of the audit topic is the order of the audit log.
        TopicSpec(names.audit, 1, dict(FOREVER), "one audit record per decision or dead letter"),
        # as long-lived as the notices it holds again (sealed to the broker, as they came)
        TopicSpec(
            names.routed,
            NOTICE_PARTITIONS,
            dict(SHORT_LIVED),
            "every input again, keyed by the child it claims (worker only)",
        ),
        # one partition per notices and per routed partition: a partition's new owner reads
        # only its own
        TopicSpec(
            names.progress,
            NOTICE_PARTITIONS,
            dict(PROGRESS),
            "the worker's partition floors and accepted notice ids (worker only)",
        ),
    ]
    deliveries = deliveries or {}
    # One partition each: one organisation's deliveries are few (a school's, a district's) and
    # stay in order; a directory of 200 organisations is then 400 partitions, not 1,000.
    specs += [
        TopicSpec(
            names.delivery(deliveries[o]),
            1,
            dict(SHORT_LIVED),
            "one organisation's redacted copies, sealed to its key",
        )
        for o in sorted(deliveries)
    ]
    specs += [
        TopicSpec(
            names.receipts(o),
            1,
            dict(SHORT_LIVED),
            "one organisation's receipts (received, opened) for its deliveries",
        )
        for o in sorted(deliveries)
    ]
    return specs


def topic_plan(
    names: TopicNames, directory: Directory, replication: Replication = SINGLE_NODE
) -> list[TopicSpec]:
    """Every topic a deployment needs: notices, audit, dead letters, the worker's progress, and
    each organisation's deliveries and receipts (the directory's), replicated as
    ``replication`` says."""
    return topic_specs(names, directory.topics, replication)
