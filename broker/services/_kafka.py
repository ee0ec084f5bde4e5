"""The Kafka reading the audit services and commands do, in one place: the audit topic in order,
and the recipients' receipts topics.

The audit topic is read by explicit partition and offset (no consumer group), in topic order:
that order is the log's order. (To be replaced by broker.adapters.kafka's one audit-log reader.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from broker.adapters.kafka.clients import client_options
from broker.adapters.settings import Settings
from broker.core.audit import Entry
from broker.core.deployment.acl import Principals


async def read_topic(
    s: Settings,
    start: int = 0,
    follow_on: bool = False,
    poll: float = 0.5,
    principal: str = Principals().auditor,
) -> AsyncIterator[tuple[list[Entry], int, int]]:
    """Yield (entries, position, end offset at start) batches from ``start``, in order. Stop at
    the end offset seen when starting unless ``follow_on`` (then yield empty batches when idle,
    so a caller can act on time)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=s.bootstrap,
        enable_auto_commit=False,
        isolation_level="read_committed",
        max_partition_fetch_bytes=4 * 1024 * 1024,
        **client_options(principal),
    )
    await consumer.start()
    try:
        tp = TopicPartition(s.topics.audit, 0)
        consumer.assign([tp])
        consumer.seek(tp, start)
        end = (await consumer.end_offsets([tp]))[tp]
        while True:
            position = await consumer.position(tp)
            if position >= end and not follow_on:
                return
            batch = await consumer.getmany(tp, timeout_ms=int(poll * 1000), max_records=2000)
            entries = [
                Entry(
                    r.offset,
                    dict(r.headers or ()).get("ce_type", b"").decode(),
                    r.value or b"",
                    tuple((k, v or b"") for k, v in r.headers or ()),
                )
                for r in batch.get(tp, [])
            ]
            yield entries, await consumer.position(tp), end
    finally:
        await consumer.stop()


@asynccontextmanager
async def group_consumer(
    s: Settings, topics: Iterable[str], group: str, principal: str
) -> AsyncIterator[Any]:
    """A started consumer of ``topics`` in consumer group ``group``, committing only when told
    to (from the earliest offset the group has not committed)."""
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=s.bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        **client_options(principal),
    )
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()
