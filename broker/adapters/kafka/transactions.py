"""The worker's commits: one transactional producer per input partition, one transaction per
batch.

Faust's own exactly-once mode routes each output to the transaction of the *output* partition,
not of the input whose offset it commits (faust-streaming/transport/consumer.py,
TransactionManager.send), so outputs and offsets could commit apart. Instead, each input
partition of each stage has its own transactional producer (transactional id
``<app>-<stage>-<partition>``, which fences a zombie owner of that partition) and one Kafka
transaction per batch holds its outputs (for the route stage the routed inputs, for the decide
stage the deliveries, the audit records, the dead letters), the worker's progress records and
the input offset: all of them or none.

``Committer.commit`` is the sequence: check the partition's floor (someone else may have
committed these inputs), begin, send every output and the new floor, send the input offset (at
most once per ``Committer.offsets_every`` seconds and partition), commit. Kafka's errors end it
in one of four ways: a transient error is retried after a back-off; an output Kafka refuses for
what it is raises ``OutputRefused`` (never retried); a missing permission, after a few tries,
``CommitImpossible``; SIGTERM ``WorkerStopping``. Being fenced returns False: another worker
owns the partition now.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka import errors as kerr
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError, ProducerFenced
from aiokafka.structs import TopicPartition

from broker.adapters import metrics
from broker.adapters.kafka.clients import Connection, new_admin, new_producer
from broker.adapters.kafka.progress import ProgressLog
from broker.adapters.settings import Settings
from broker.core.deployment.acl import Principals
from broker.core.pipeline import OutMessage, progress_message
from broker.core.records import PartitionFloor

log = structlog.get_logger(__name__)
PERMISSION_RETRIES = 5  # an ACL being applied may take a moment; a missing one is fatal
_T = TypeVar("_T")

# Kafka refuses these outputs for what they are: retrying the same bytes can never succeed.
REFUSED = (
    kerr.MessageSizeTooLargeError,
    kerr.RecordTooLargeError,
    kerr.RecordListTooLargeError,
    kerr.CorruptRecordException,
    kerr.InvalidTimestampError,
    kerr.PolicyViolationError,
    kerr.UnsupportedForMessageFormatError,
    kerr.InvalidTopicError,
)
# The worker may not do this at all: wrong ACLs or certificates, an operator's fix.
FORBIDDEN = (
    kerr.TopicAuthorizationFailedError,
    kerr.TransactionalIdAuthorizationFailed,
    kerr.ClusterAuthorizationFailedError,
    kerr.GroupAuthorizationFailedError,
    kerr.AuthenticationFailedError,
    kerr.SaslAuthenticationFailed,
)


class OutputRefused(Exception):
    """Kafka refused an output for what it is (too large, invalid): never retried."""

    def __init__(self, error: BaseException) -> None:
        self.error_class = type(error).__name__
        super().__init__(self.error_class)


class WorkerStopping(Exception):
    """SIGTERM arrived: leave the batch uncommitted (the next owner redoes it) and stop."""


class CommitImpossible(Exception):
    """The worker is not allowed to write what every input needs (its ACLs): stop, loudly."""


class Committer:
    """One transactional producer per input partition; one transaction per batch.

    When a partition's producer is created, ``init_transactions`` completes or aborts whatever
    transaction a crashed owner left open. If that transaction was already committing, its
    input offset lands *after* Faust's consumer fetched the partition's committed offset, and
    the same inputs would be processed twice. aiokafka has no KIP-447 stable offset fetch
    (OffsetFetch v3 at most), so even a fresh OffsetFetch may still miss it. The progress topic
    does not: every transaction ends with the partition's floor record on the progress
    partition of the same number, which only this partition's transactional producer writes, so
    once ``init_transactions`` returns nothing on it is still open. The floor is the latest
    committed floor record there (or the committed group offset, if higher); inputs below it
    are skipped: they are committed already.

    So the floor is what keeps every input exactly once, and the group offset only tells a new
    owner where to start reading. It is added to a transaction at most once per
    ``offsets_every`` seconds and partition (and in the first after taking a partition over):
    each time costs two more round trips (AddOffsetsToTxn, TxnOffsetCommit), half of a small
    transaction's time (bench/breakdown.py). A new owner then reads up to that much input
    again and skips it below the floor.
    """

    offsets_every = 1.0  # seconds between the input offsets added to a transaction

    RETRY_FIRST, RETRY_MAX = 0.5, 10.0  # seconds of back-off, doubling

    def __init__(
        self,
        settings: Settings,
        group_id: str,
        progress: ProgressLog,
        stage: str,
        acquired: Callable[[int], Awaitable[object]] | None = None,
    ) -> None:
        """``stage`` names the transactional ids; ``acquired(partition)`` runs each time this
        worker's producer has taken a partition over (fenced the previous owner), before its
        first input is decided: the decide stage loads that partition's replay claims."""
        self.settings = settings
        self.group_id = group_id
        self.progress = progress
        self.stage = stage
        self.acquired = acquired
        self.conn = Connection.of(settings, Principals().worker)
        self.producers: dict[int, AIOKafkaProducer] = {}
        self.floors: dict[int, int] = {}
        self.offsets_at: dict[int, float] = {}  # when each partition's offset was last sent
        self.clock = time.monotonic
        self._admin: AIOKafkaAdminClient | None = None
        self.stopping = asyncio.Event()

    async def _patiently(self, what: str, partition: int, op: Callable[[], Awaitable[_T]]) -> _T:
        """Run ``op`` until it succeeds: back off on transient errors, give up on refused
        outputs (OutputRefused) and, after a few tries, on missing permissions; stop at once
        on SIGTERM (WorkerStopping)."""
        delay, denied = self.RETRY_FIRST, 0
        while True:
            if self.stopping.is_set():
                raise WorkerStopping
            try:
                return await op()
            except ProducerFenced:
                raise
            except REFUSED as exc:
                await self._drop(partition)
                raise OutputRefused(exc) from None
            except FORBIDDEN as exc:
                denied += 1
                if denied >= PERMISSION_RETRIES:
                    raise CommitImpossible(type(exc).__name__) from None
                error = type(exc).__name__
            except KafkaError as exc:  # Kafka away or a transient error: abort and retry
                error = type(exc).__name__
            log.warning(f"worker.{what}_retry", partition=partition, error=error, retry_in_s=delay)
            await self._drop(partition)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)
            delay = min(delay * 2, self.RETRY_MAX)

    async def floor(self, tp: TopicPartition) -> int:
        """The partition's committed offset as of this worker's producer taking it over."""
        return await self._patiently("floor", tp.partition, lambda: self._floor(tp))

    async def _floor(self, tp: TopicPartition) -> int:
        await self._producer(tp.partition)
        if tp.partition not in self.floors:
            if self._admin is None:
                self._admin = new_admin(self.conn)
                await self._admin.start()
            found = await self._admin.list_consumer_group_offsets(self.group_id, partitions=[tp])
            committed = found.get(tp)
            from_group = committed.offset if committed is not None else -1
            from_progress = await self.progress.read_floor(tp)
            if self.acquired is not None:
                await self.acquired(tp.partition)
            self.floors[tp.partition] = max(from_group, from_progress)
            if from_progress > from_group:
                log.warning(
                    "worker.floor_from_progress",
                    partition=tp.partition,
                    committed=from_group,
                    progress=from_progress,
                )
        return self.floors[tp.partition]

    async def _producer(self, partition: int) -> AIOKafkaProducer:
        producer = self.producers.get(partition)
        if producer is None:
            producer = new_producer(
                self.conn,
                transactional_id=f"{self.settings.app_id}-{self.stage}-{partition}",
                enable_idempotence=True,
                acks="all",
                # no linger: a transaction's sends are all queued before the sender runs (send
                # only enqueues), so they batch anyway; a linger only delayed each commit
                linger_ms=0,
                max_batch_size=256 * 1024,
                max_request_size=1024 * 1024,
                request_timeout_ms=30000,
            )
            try:
                await producer.start()  # init_transactions: fences and aborts a previous owner
            except BaseException:
                with contextlib.suppress(Exception):
                    await producer.stop()
                raise
            self.producers[partition] = producer
        return producer

    async def commit(
        self, tp: TopicPartition, messages: list[OutMessage], first: int, next_offset: int
    ) -> bool:
        """Send ``messages`` (the outputs of inputs ``first`` to ``next_offset - 1``), the
        partition's new floor and the input offset in one transaction. Retries while Kafka is
        away; returns False if another worker committed these inputs or now owns the partition
        (we were fenced). OutputRefused: Kafka will never take one of these messages."""
        floor = progress_message(
            self.settings.topics,
            tp.partition,
            PartitionFloor(topic=tp.topic, partition=tp.partition, next_offset=next_offset),
        )

        async def attempt() -> bool:
            if await self._floor(tp) > first:  # after a retry: someone else committed them
                log.warning("worker.batch_taken_over", partition=tp.partition)
                return False
            producer = await self._producer(tp.partition)
            clock = _Steps(self.stage)
            async with producer.transaction():
                futures = [
                    await producer.send(
                        m.topic, m.value, key=m.key, headers=list(m.headers), partition=m.partition
                    )
                    for m in [*messages, floor]
                ]
                clock.step("send")
                await asyncio.gather(*futures)
                clock.step("acknowledged")
                offsets = self._offsets_due(tp.partition)
                if offsets:
                    await producer.send_offsets_to_transaction({tp: next_offset}, self.group_id)
                    clock.step("offsets")
            clock.step("commit")
            if offsets:
                self.offsets_at[tp.partition] = self.clock()
            metrics.BATCH_INPUTS.labels(stage=self.stage).observe(next_offset - first)
            # inputs below a committed offset are never processed again by this worker:
            # after a rebalance Faust may seek back to an offset fetched before this commit
            self.floors[tp.partition] = max(self.floors.get(tp.partition, -1), next_offset)
            return True

        try:
            return await self._patiently("commit", tp.partition, attempt)
        except ProducerFenced:
            log.warning("worker.fenced", partition=tp.partition)
            await self._drop(tp.partition)
            return False

    def _offsets_due(self, partition: int) -> bool:
        last = self.offsets_at.get(partition)
        return last is None or self.clock() - last >= self.offsets_every

    async def _drop(self, partition: int) -> None:
        self.floors.pop(partition, None)
        self.offsets_at.pop(partition, None)
        producer = self.producers.pop(partition, None)
        if producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 5)

    async def revoke(self, partitions: Iterable[int]) -> None:
        for p in partitions:
            await self._drop(p)

    async def stop(self) -> None:
        self.stopping.set()
        await self.revoke(list(self.producers))
        if self._admin is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._admin.close(), 5)


class _Steps:
    """Times the steps of one transaction into metrics.TRANSACTION_STEP."""

    def __init__(self, stage: str) -> None:
        self.stage = stage
        self.last = time.perf_counter()

    def step(self, name: str) -> None:
        now = time.perf_counter()
        metrics.TRANSACTION_STEP.labels(stage=self.stage, step=name).observe(now - self.last)
        self.last = now


CONCURRENT_RETRY = 0.002  # seconds (aiokafka: 0.02)


def retry_concurrent_transactions_sooner() -> None:
    """A partition's next transaction often starts while Kafka still writes the markers of the
    one just committed: Kafka answers CONCURRENT_TRANSACTIONS and aiokafka retries after a
    fixed 20 ms (its BACKOFF_OVERRIDE, after KAFKA-5477), a wait every busy batch paid twice
    (bench/breakdown.py: sends acknowledged p50 38 ms back to back, 10 ms with 2 ms). The
    markers take a millisecond or two on one machine: retry after CONCURRENT_RETRY."""
    from aiokafka.producer import sender  # noqa: PLC0415

    sender.BACKOFF_OVERRIDE = CONCURRENT_RETRY
