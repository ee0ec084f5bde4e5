"""The one reader of the audit topic: its messages in the log's order, as ``Entry``s.

The audit topic has one partition, and its order is the Merkle log's order, so it is read by
explicit partition and offset (no consumer group), read committed: a record of an aborted or
still open transaction is no record of the log.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, NamedTuple

from aiokafka.structs import TopicPartition

from broker.adapters.kafka.clients import Connection, new_consumer
from broker.adapters.settings import Settings
from broker.core.audit.events import Entry


class Batch(NamedTuple):
    """Messages read at once, the position after them, and the end offset when reading began."""

    entries: list[Entry]
    position: int
    end: int


def entry_of(record: Any) -> Entry:
    """A consumed audit-topic record as the log's entry (its type from its ce_type header)."""
    headers = tuple((k, v or b"") for k, v in record.headers or ())
    return Entry(
        record.offset, dict(headers).get("ce_type", b"").decode(), record.value or b"", headers
    )


async def read(
    settings: Settings,
    principal: str,
    *,
    start: int = 0,
    follow: bool = False,
    poll: float = 0.5,
    committed: bool = True,
) -> AsyncIterator[Batch]:
    """Batches of the audit topic from offset ``start``, in order, as ``principal``. Stop at the
    end offset seen when starting unless ``follow`` (then yield empty batches when idle, so a
    caller can act on time). ``committed=False`` also reads aborted records (a drill counts
    them)."""
    consumer = new_consumer(
        Connection.of(settings, principal),
        enable_auto_commit=False,
        isolation_level="read_committed" if committed else "read_uncommitted",
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    try:
        tp = TopicPartition(settings.topics.audit, 0)
        consumer.assign([tp])
        consumer.seek(tp, start)
        end = (await consumer.end_offsets([tp]))[tp]
        while True:
            position = await consumer.position(tp)
            if position >= end and not follow:
                return
            batch = await consumer.getmany(tp, timeout_ms=int(poll * 1000), max_records=2000)
            entries = [entry_of(r) for r in batch.get(tp, [])]
            yield Batch(entries, await consumer.position(tp), end)
    finally:
        await consumer.stop()


async def entries(settings: Settings, principal: str, *, committed: bool = True) -> list[Entry]:
    """Every message the audit topic holds now."""
    return [e async for b in read(settings, principal, committed=committed) for e in b.entries]
