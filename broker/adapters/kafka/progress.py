"""The worker's own state: its progress topic, read back as typed models.

Every worker transaction ends with its partition's floor record (``PartitionFloor``, one per
input topic: the notices the route stage reads, the routed inputs the decide stage reads) on the
progress partition of the same number, and a decide transaction holds a claim (``ReplayClaim``)
per accepted notice on the progress partition of its routed partition, so the progress topic
says, committed with the offsets, what the worker has decided. Only the
worker principal may read or write it. A record on it that the worker could not have written
(wrong shape, or a key or partition that does not match its content) is skipped, logged, and
audited once at the next chance: an insider's write or a fault, visible to auditors, never a
reason to stall.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from aiokafka.structs import TopicPartition
from pydantic import TypeAdapter, ValidationError

from broker.adapters.kafka.clients import Connection, new_consumer, new_producer
from broker.adapters.settings import Settings
from broker.core.crypto import signing
from broker.core.deployment.acl import Principals
from broker.core.pipeline import OutMessage
from broker.core.records import PartitionFloor, ProgressRecord, ReplayClaim
from broker.core.times import CLOCK_SKEW

log = structlog.get_logger(__name__)
READ_DEADLINE = 60.0  # seconds to read back the progress topic at most
FLOOR_TAIL = 2000  # records read back first for a floor: a few of the largest transactions
_PROGRESS: TypeAdapter[PartitionFloor | ReplayClaim] = TypeAdapter(ProgressRecord)


def parse_progress(record: Any, inputs: tuple[str, ...]) -> PartitionFloor | ReplayClaim | None:
    """A progress record as its model, or None if it is not one the worker could have written:
    wrong shape, a floor of a topic not among the worker's ``inputs``, or a key or partition
    that does not match its content."""
    try:
        parsed = _PROGRESS.validate_json(record.value or b"")
    except ValidationError:
        return None
    if isinstance(parsed, PartitionFloor):
        ok = (
            record.key == f"floor:{parsed.topic}".encode()
            and parsed.partition == record.partition
            and parsed.topic in inputs
        )
    else:
        ok = record.key == f"claim:{parsed.notice_id}".encode()
    return parsed if ok else None


class ProgressLog:
    """The worker's progress topic: floors and claims read back, skipped records audited."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.conn = Connection.of(settings, Principals().worker)
        self.corrupt: list[str] = []  # positions of records skipped, not audited yet
        self.skipped: set[str] = set()  # every position skipped so far
        self.inputs = (settings.topics.notices, settings.topics.routed)  # what floors are of

    async def read_floor(self, tp: TopicPartition) -> int:
        """The latest committed floor of ``tp`` on its progress partition: every transaction
        writes it last, so it is near the end; read back further until one is found."""
        tail = FLOOR_TAIL
        while True:
            best, seen = -1, 0
            async for record in self._read([tp.partition], tail=tail):
                seen += 1
                parsed = self._parse(record)
                if isinstance(parsed, PartitionFloor) and parsed.topic == tp.topic:
                    best = max(best, parsed.next_offset)
            if best >= 0 or seen < tail:
                return best
            tail *= 8

    async def load_claims(self, guard: signing.MemoryReplayGuard, partitions: list[int]) -> int:
        """Fill the replay guard with the claims of the last ``notice_max_age`` on the progress
        ``partitions``. They commit in the same transactions as the offsets, so the guard
        knows exactly the notices accepted there, and where, whichever worker accepted them.
        A claim is true wherever it is read: loading more partitions than the worker owns
        never refuses a notice wrongly."""
        now = datetime.now(UTC)
        n = 0
        since = now - self.settings.notice_max_age - CLOCK_SKEW
        async for record in self._read(partitions, since=since):
            parsed = self._parse(record)
            if isinstance(parsed, ReplayClaim) and parsed.forget_after > now:
                guard.claim(parsed.notice_id, parsed.position, parsed.forget_after)
                n += 1
        return n

    async def audit_corrupt_progress(self, worker_state: Callable[[str, str], OutMessage]) -> None:
        """One audit record (``worker_state(position, reason)``) per progress record skipped."""
        if not self.corrupt:
            return
        producer = new_producer(self.conn, acks="all", enable_idempotence=True)
        await producer.start()
        try:
            for position in self.corrupt:
                m = worker_state(position, "not a progress record the worker wrote")
                await producer.send_and_wait(m.topic, m.value, key=m.key, headers=list(m.headers))
            self.corrupt.clear()
        finally:
            await producer.stop()

    def _parse(self, record: Any) -> PartitionFloor | ReplayClaim | None:
        parsed = parse_progress(record, self.inputs)
        position = f"{record.topic}/{record.partition}/{record.offset}"
        # a partition is read again whenever the worker takes it over: audit each record once
        if parsed is None and position not in self.skipped:
            log.warning("worker.progress_corrupt", partition=record.partition, offset=record.offset)
            self.skipped.add(position)
            self.corrupt.append(position)
        return parsed

    async def _read(
        self, partitions: list[int], *, since: datetime | None = None, tail: int | None = None
    ) -> AsyncIterator[Any]:
        """Committed records of the progress topic's ``partitions``, from the first at ``since``
        or ``tail`` records before the end, up to the last stable offset (a read-committed
        consumer's end offset: records beyond it belong to an open transaction and do not
        count yet)."""
        tps = [TopicPartition(self.settings.topics.progress, p) for p in partitions]
        consumer = new_consumer(
            self.conn,
            enable_auto_commit=False,
            isolation_level="read_committed",
            max_partition_fetch_bytes=8 * 1024 * 1024,
        )
        await consumer.start()
        try:
            consumer.assign(tps)
            # let the consumer's background task run once: stopping it before it ever ran
            # raises CancelledError out of aiokafka's NoGroupCoordinator.close()
            await asyncio.sleep(0)
            ends = await consumer.end_offsets(tps)
            starts = {tp: max(0, ends[tp] - tail) if tail is not None else 0 for tp in tps}
            if since is not None:
                found = await consumer.offsets_for_times(
                    {tp: int(since.timestamp() * 1000) for tp in tps}
                )
                starts = {tp: found[tp].offset if found.get(tp) else ends[tp] for tp in tps}
            for tp in tps:
                consumer.seek(tp, starts[tp])
            pending = {tp for tp in tps if starts[tp] < ends[tp]}
            deadline = time.monotonic() + READ_DEADLINE
            while pending:
                if time.monotonic() > deadline:
                    log.warning("worker.progress_read_incomplete", partitions=partitions)
                    return
                batch = await consumer.getmany(*pending, timeout_ms=1000, max_records=10_000)
                for records in batch.values():
                    for record in records:
                        yield record
                pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
        finally:
            await consumer.stop()
