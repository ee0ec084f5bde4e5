"""The Faust worker: consume notices, call the pipeline, commit what it returns.

Kept thin: every decision is made in broker.core.pipeline. Faust supplies the consumer group, the
partition assignment and the stream; the commit is ours. Faust's own exactly-once mode routes
each output to the transaction of the *output* partition, not of the input whose offset it
commits (faust-streaming/transport/consumer.py, TransactionManager.send), so outputs and offsets
could commit apart. Instead, each input partition has its own transactional producer
(transactional id ``<app>-notices-<partition>``, which fences a zombie owner of that partition)
and one Kafka transaction per batch holds the deliveries, the audit records, the dead letters,
the worker's progress records and the input offset: all of them or none.

The worker's restart state (each partition's floor, the replay guard) comes only from its own
progress topic, which only the worker principal may read or write, read back as typed models.
No input stops the worker: the pipeline never raises, a record the client cannot parse is a
placeholder (broker.adapters.kafka.records), Kafka refusing an output dead-letters that input
alone, and
SIGTERM ends the process within ``STOP_DEADLINE`` seconds whatever it is doing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar

import faust
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka import errors as kerr
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError, ProducerFenced
from aiokafka.structs import TopicPartition
from pydantic import TypeAdapter, ValidationError

from broker.adapters import metrics
from broker.adapters.kafka import records as kafka_records
from broker.adapters.kafka.clients import ensure_topics, wait_for_kafka
from broker.adapters.policy_files import require as gated_policy
from broker.adapters.settings import Settings
from broker.adapters.stores import keyfiles
from broker.core import envelope, retention
from broker.core.audit import writers
from broker.core.crypto import sealing, signing
from broker.core.crypto.registry import BROKER_OWNER, KeyKind
from broker.core.deployment.acl import Principals
from broker.core.deployment.topics import policy_topic_specs
from broker.core.errors import ConfigError
from broker.core.pipeline import OutMessage, Pipeline, Result, Source, progress_message
from broker.core.policy import PolicySet
from broker.core.records import PartitionFloor, ProgressRecord, ReplayClaim

log = structlog.get_logger(__name__)
BATCH = 500  # inputs per transaction at most
BATCH_WINDOW = 0.01  # seconds to wait for a batch to fill: latency vs. throughput
STOP_DEADLINE = 8.0  # seconds from SIGTERM to exit, whatever the worker is doing
PRUNE_EVERY = 60.0  # seconds between replay-guard prunes
READ_DEADLINE = 60.0  # seconds to read back the progress topic at most
PERMISSION_RETRIES = 5  # an ACL being applied may take a moment; a missing one is fatal
_T = TypeVar("_T")
_PROGRESS: TypeAdapter[PartitionFloor | ReplayClaim] = TypeAdapter(ProgressRecord)

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
    """

    def __init__(self, settings: Settings, group_id: str) -> None:
        self.settings = settings
        self.group_id = group_id
        self.producers: dict[int, AIOKafkaProducer] = {}
        self.floors: dict[int, int] = {}
        self._admin: AIOKafkaAdminClient | None = None
        self.stopping = asyncio.Event()

    async def _patiently(self, what: str, partition: int, op: Callable[[], Awaitable[_T]]) -> _T:
        """Run ``op`` until it succeeds: back off on transient errors, give up on refused
        outputs (OutputRefused) and, after a few tries, on missing permissions; stop at once
        on SIGTERM (WorkerStopping)."""
        delay, denied = 0.5, 0
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
            delay = min(delay * 2, 10.0)

    async def floor(self, tp: TopicPartition) -> int:
        """The partition's committed offset as of this worker's producer taking it over."""
        return await self._patiently("floor", tp.partition, lambda: self._floor(tp))

    async def _floor(self, tp: TopicPartition) -> int:
        await self._producer(tp.partition)
        if tp.partition not in self.floors:
            if self._admin is None:
                self._admin = AIOKafkaAdminClient(
                    bootstrap_servers=self.settings.bootstrap,
                    **self.settings.kafka.options(Principals().worker),
                )
                await self._admin.start()
            found = await self._admin.list_consumer_group_offsets(self.group_id, partitions=[tp])
            committed = found.get(tp)
            from_group = committed.offset if committed is not None else -1
            from_progress = await read_floor(self.settings, tp)
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
            producer = AIOKafkaProducer(
                bootstrap_servers=self.settings.bootstrap,
                **self.settings.kafka.options(Principals().worker),
                transactional_id=f"{self.settings.app_id}-notices-{partition}",
                enable_idempotence=True,
                acks="all",
                linger_ms=2,
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
            async with producer.transaction():
                futures = [
                    await producer.send(
                        m.topic, m.value, key=m.key, headers=list(m.headers), partition=m.partition
                    )
                    for m in [*messages, floor]
                ]
                await asyncio.gather(*futures)
                await producer.send_offsets_to_transaction({tp: next_offset}, self.group_id)
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

    async def _drop(self, partition: int) -> None:
        self.floors.pop(partition, None)
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


async def decide_and_commit(
    committer: Committer, pipeline: Pipeline, tp: TopicPartition, msgs: list[Any], started: float
) -> None:
    """Decide a batch of one partition's inputs and commit it. If Kafka refuses an output,
    commit the inputs one by one, and an input whose own outputs are refused becomes a dead
    letter by reference: it never holds back the others, and nothing is committed past an
    input without its audit record."""
    sources = [Source(m.topic, m.partition, m.offset) for m in msgs]
    results = [
        pipeline.process(m.value, m.headers, src) for m, src in zip(msgs, sources, strict=True)
    ]
    out = [x for r in results for x in r.messages()]
    try:
        if await committer.commit(tp, out, msgs[0].offset, msgs[-1].offset + 1):
            _observe_all(sources, results, started)
        return
    except OutputRefused:
        log.warning("worker.batch_refused", partition=tp.partition, inputs=len(msgs))
    for m, src, decided in zip(msgs, sources, results, strict=True):
        result = decided
        try:
            ok = await committer.commit(tp, result.messages(), m.offset, m.offset + 1)
        except OutputRefused as refused:
            result = pipeline.refused(m.value, src, refused.error_class)
            try:
                ok = await committer.commit(tp, result.messages(), m.offset, m.offset + 1)
            except OutputRefused as again:  # even the reference and its audit record
                raise CommitImpossible(again.error_class) from None
        if not ok:
            return
        _observe_all([src], [result], started)


def _observe_all(sources: list[Source], results: list[Result], started: float) -> None:
    for src, r in zip(sources, results, strict=True):
        _observe(r, src, started)
    metrics.RECEIVED.inc(len(results))


def _observe(result: Result, source: Source, started: float) -> None:
    """Metrics and one log line per input: ids, recipients, codes; never a field value."""
    if result.error:
        metrics.DEAD_LETTERED.labels(code=result.error.code).inc()
        log.warning(
            "notice.dead_lettered",
            code=result.error.code,
            source=str(source),
            fields=[p.field for p in result.error.problems],
        )
        return
    for d in result.decisions:
        metrics.DECISIONS.labels(recipient=d.recipient, outcome=d.outcome.value).inc()
    metrics.LATENCY.observe(time.monotonic() - started)
    first = result.decisions[0]
    log.info(
        "notice.decided",
        notice_id=str(first.notice_id),
        notice_type=first.notice_type,
        policy_version=first.policy_version[:19],
        decisions={d.recipient: d.outcome.value for d in result.decisions},
        rules={d.recipient: d.rule_id for d in result.decisions if d.rule_id},
    )


def security(
    settings: Settings,
    policy: PolicySet,
    guard: signing.ReplayGuard,
) -> tuple[signing.NoticeVerifier, sealing.DeliverySealer, sealing.NoticeOpener]:
    """The notice verifier, the delivery sealer and the broker's inbox (it unseals notices),
    or a ConfigError naming what is missing."""
    retention.load_retention(settings.policy_dir)  # fail fast on a bad retention.yaml
    paths = settings.key_paths()
    registry = keyfiles.load_registry(paths.registry)
    broker_key = keyfiles.signing_key(paths, registry, KeyKind.broker, BROKER_OWNER)
    sealer = sealing.DeliverySealer(
        registry, broker_key, retention.SqliteDataKeyStore(paths.data_keys)
    )
    missing = sealer.missing_recipients(sorted({r.recipient for r in policy.rules}))
    if missing:
        raise ConfigError(
            "no active encryption key for "
            + ", ".join(missing)
            + " (broker keys generate --recipient ID)"
        )
    verifier = signing.NoticeVerifier(registry, guard, max_age=settings.notice_max_age)
    inbox_keys = keyfiles.decryption_keys(paths, registry, sealing.BROKER_INBOX)
    if not inbox_keys:
        raise ConfigError(
            "the broker has no encryption key for its inbox "
            "(broker keys generate --recipient broker)"
        )
    return verifier, sealer, sealing.NoticeOpener(inbox_keys)


async def _read_progress(
    settings: Settings,
    partitions: list[int],
    *,
    since: datetime | None = None,
    tail: int | None = None,
) -> AsyncIterator[ConsumerRecord]:
    """Committed records of the progress topic's ``partitions``, from the first at ``since``
    or ``tail`` records before the end, up to the last stable offset (a read-committed
    consumer's end offset: records beyond it belong to an open transaction and do not count
    yet)."""
    tps = [TopicPartition(settings.topics.progress, p) for p in partitions]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap,
        enable_auto_commit=False,
        isolation_level="read_committed",
        max_partition_fetch_bytes=8 * 1024 * 1024,
        **settings.kafka.options(Principals().worker),
    )
    await consumer.start()
    try:
        consumer.assign(tps)
        # let the consumer's background task run once: stopping it before it ever ran raises
        # CancelledError out of aiokafka's NoGroupCoordinator.close()
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


def parse_progress(
    record: ConsumerRecord,
    notices_topic: str,
) -> PartitionFloor | ReplayClaim | None:
    """A progress record as its model, or None (with a warning) if it is not one the worker
    could have written: wrong shape, or a key or partition that does not match its content."""
    try:
        parsed = _PROGRESS.validate_json(record.value or b"")
    except ValidationError:
        parsed = None
    if isinstance(parsed, PartitionFloor):
        ok = (
            record.key == b"floor"
            and parsed.partition == record.partition
            and parsed.topic == notices_topic
        )
    elif isinstance(parsed, ReplayClaim):
        ok = record.key == f"claim:{parsed.notice_id}".encode()
    else:
        ok = False
    if not ok:
        log.warning("worker.progress_corrupt", partition=record.partition, offset=record.offset)
        CORRUPT.append(f"{record.topic}/{record.partition}/{record.offset}")
        return None
    return parsed


CORRUPT: list[str] = []  # positions of progress records skipped, audited at start-up


async def read_floor(settings: Settings, tp: TopicPartition) -> int:
    """The latest committed floor of ``tp`` on its progress partition: every transaction
    writes it last, so it is near the end; read back further until one is found."""
    tail = 4 * BATCH
    while True:
        best, seen = -1, 0
        async for record in _read_progress(settings, [tp.partition], tail=tail):
            seen += 1
            parsed = parse_progress(record, tp.topic)
            if isinstance(parsed, PartitionFloor):
                best = max(best, parsed.next_offset)
        if best >= 0 or seen < tail:
            return best
        tail *= 8


async def preload_replay_guard(
    settings: Settings, guard: signing.MemoryReplayGuard, partitions: int
) -> int:
    """Fill the replay guard from the progress topic's claims of the last ``notice_max_age``:
    they commit in the same transactions as the offsets, so after a restart the guard knows
    exactly the notices that were accepted, and where."""
    now = datetime.now(UTC)
    n = 0
    since = now - settings.notice_max_age - envelope.MAX_CLOCK_SKEW
    async for record in _read_progress(settings, list(range(partitions)), since=since):
        parsed = parse_progress(record, settings.topics.notices)
        if isinstance(parsed, ReplayClaim) and parsed.forget_after > now:
            guard.claim(parsed.notice_id, parsed.position, parsed.forget_after)
            n += 1
    return n


async def audit_corrupt_progress(settings: Settings, pipeline: Pipeline) -> None:
    """One audit record per progress record the worker skipped: an insider's write or a
    fault, visible to auditors, never a reason to stall."""
    if not CORRUPT:
        return
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap,
        acks="all",
        enable_idempotence=True,
        **settings.kafka.options(Principals().worker),
    )
    await producer.start()
    try:
        for position in CORRUPT:
            m = pipeline.worker_state(position, "not a progress record the worker wrote")
            await producer.send_and_wait(m.topic, m.value, key=m.key, headers=list(m.headers))
        CORRUPT.clear()
    finally:
        await producer.stop()


def build_pipeline(settings: Settings, policy: PolicySet, guard: signing.ReplayGuard) -> Pipeline:
    """The pipeline with its keys: a ConfigError here stops start-up before Kafka is awaited."""
    verifier, sealer, inbox = security(settings, policy, guard)
    paths = settings.key_paths()
    audit_key = keyfiles.writer_key(paths, keyfiles.load_registry(paths.registry), writers.WORKER)
    return Pipeline(
        policy,
        settings.topics,
        settings.subject_key(),
        verifier=verifier,
        sealer=sealer,
        inbox=inbox,
        audit_key=audit_key,
    )


def create_app(
    settings: Settings, pipeline: Pipeline, guard: signing.MemoryReplayGuard | None = None
) -> tuple[faust.App, Committer]:
    policy = pipeline.policy
    ssl_context = settings.kafka.ssl_context(Principals().worker)
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.bootstrap}",
        broker_credentials=faust.SSLCredentials(ssl_context) if ssl_context else None,
        datadir=str(settings.state_dir / "faust"),
        web_enabled=False,  # no Faust web listener at all (never on 0.0.0.0)
        web_host="127.0.0.1",
        consumer_auto_offset_reset="earliest",
        broker_commit_every=BATCH,
        broker_commit_interval=1.0,
        broker_max_poll_records=BATCH,
        stream_buffer_maxsize=4 * BATCH,
        topic_disable_leader=True,
        consumer_max_fetch_size=4 * 1024 * 1024,
        # a crashed worker's partitions move to a live one after 10 s, not Faust's default 60 s
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
    )
    notices = app.topic(
        settings.topics.notices,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )
    committer = Committer(settings, settings.app_id)
    pruned_at = [time.monotonic()]

    async def housekeeping() -> None:
        """Forget replay-guard entries past their window; audit skipped progress records."""
        if time.monotonic() - pruned_at[0] < PRUNE_EVERY:
            return
        pruned_at[0] = time.monotonic()
        if guard is not None:
            forgotten = guard.prune(datetime.now(UTC))
            metrics.REPLAY_GUARD.set(len(guard))
            if forgotten:
                log.info("worker.replay_guard_pruned", forgotten=forgotten, kept=len(guard))
        with contextlib.suppress(KafkaError):
            await audit_corrupt_progress(settings, pipeline)

    @app.agent(notices)
    async def process(stream: Any) -> None:
        async for events in stream.take_events(BATCH, within=BATCH_WINDOW):
            if committer.stopping.is_set():
                continue  # uncommitted: the next owner of these partitions decides them
            started = time.monotonic()
            by_tp: dict[TopicPartition, list[Any]] = defaultdict(list)
            for event in events:
                msg = event.message
                by_tp[TopicPartition(msg.topic, msg.partition)].append(msg)
            try:
                for tp, batch in by_tp.items():
                    floor = await committer.floor(tp)
                    msgs = [m for m in batch if m.offset >= floor]  # below: committed already
                    if msgs:
                        await decide_and_commit(committer, pipeline, tp, msgs, started)
                await housekeeping()
            except WorkerStopping:
                continue
            except CommitImpossible as exc:
                log.error(
                    "worker.cannot_commit",
                    error=str(exc),
                    hint="the worker may not write its outputs: check its ACLs",
                )
                committer.stopping.set()
                os.kill(os.getpid(), signal.SIGTERM)

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]  # mode wants keyword signal
    async def on_revoked(sender: Any, *args: Any, **kwargs: Any) -> None:
        revoked: set[Any] = args[0] if args else set()
        # another worker may own these now: its producer will fence ours anyway
        await committer.revoke(
            {tp.partition for tp in revoked if tp.topic == settings.topics.notices}
        )

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def on_shutdown(sender: Any, *args: Any, **kwargs: Any) -> None:
        await committer.stop()
        log.info("worker.stopped")

    @app.task
    async def announce() -> None:
        log.info(
            "worker.ready",
            policy_version=policy.version,
            notices=settings.topics.notices,
            recipients=len(policy.recipients),
            guarantee="kafka-transactions",
        )

    return app, committer


class _Worker(faust.Worker):
    """Faust's worker, with a deadline: SIGTERM or SIGINT stops retry loops at once, and a
    watchdog ends the process after STOP_DEADLINE seconds if a graceful stop hangs (safe: an
    uncommitted transaction is aborted by the next owner, and its inputs decided again)."""

    committer: Committer

    def _deadline(self) -> None:
        self.committer.stopping.set()

        def force() -> None:
            log.error("worker.stop_forced", after_s=STOP_DEADLINE)
            os._exit(3)

        timer = threading.Timer(STOP_DEADLINE, force)
        timer.daemon = True
        timer.start()

    def _on_sigterm(self) -> None:
        self._deadline()
        super()._on_sigterm()

    def _on_sigint(self) -> None:
        self._deadline()
        super()._on_sigint()


def _faust_commits_no_offsets() -> None:
    """Input offsets are committed only inside the worker's Kafka transactions, with the
    outputs they stand for. Faust would also commit the offsets of events it has acked, on a
    timer and at shutdown: after an agent that failed mid-batch, or a SIGTERM while a
    transaction could not commit, that moved the group past inputs never decided. Its
    consumer's commit is made a no-op that reports success (so Faust sees nothing pending)."""
    from faust.transport.drivers import aiokafka as driver  # noqa: PLC0415

    async def commit_nothing(self: Any, offsets: Any) -> bool:
        return True

    driver.AIOKafkaConsumerThread._commit = commit_nothing  # type: ignore[method-assign]


def run(settings: Settings, loglevel: str = "info") -> None:
    """Wait for Kafka, ensure topics exist, then run the Faust worker until SIGTERM/SIGINT."""
    kafka_records.install()  # a record the client cannot parse must not stop the worker
    _faust_commits_no_offsets()
    # a bad policy file, a lint warning or a failing policy test case stops start-up here
    policy = gated_policy(settings.policy_dir)
    specs = policy_topic_specs(settings.topics, policy)
    guard = signing.MemoryReplayGuard()
    pipeline = build_pipeline(settings, policy, guard)  # and missing keys, before Kafka

    async def prepare() -> None:
        who = Principals().worker
        await wait_for_kafka(settings.bootstrap, timeout=None, principal=who)
        created = await ensure_topics(settings.bootstrap, specs, principal=who)
        if created:
            log.info("topics.created", topics=created)
        partitions = await _check_partitions(settings)
        loaded = await preload_replay_guard(settings, guard, partitions)
        log.info("worker.replay_guard_loaded", notices=loaded)
        await audit_corrupt_progress(settings, pipeline)

    asyncio.run(prepare())  # fills the guard the pipeline already holds
    if settings.metrics_port:
        metrics.serve(settings.metrics_port)
    app, committer = create_app(settings, pipeline, guard)
    worker = _Worker(app, loglevel=loglevel, quiet=True)
    worker.committer = committer
    logging.getLogger("faust").setLevel(logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    worker.execute_from_commandline()


async def _check_partitions(settings: Settings) -> int:
    """Each notices partition needs a progress partition of the same number."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap, **settings.kafka.options(Principals().worker)
    )
    await admin.start()
    try:
        found = await admin.describe_topics([settings.topics.notices, settings.topics.progress])
    finally:
        await admin.close()
    count = {t["topic"]: len(t["partitions"]) for t in found}
    notices = count.get(settings.topics.notices, 0)
    progress = count.get(settings.topics.progress, 0)
    if not notices or progress < notices:
        raise ConfigError(
            f"topic {settings.topics.progress} has {progress} partitions; "
            f"it needs one per partition of {settings.topics.notices} ({notices})"
        )
    return progress
