"""The Faust worker: consume notices, call the pipeline, commit what it returns.

Kept thin: every decision is made in broker.pipeline. Faust supplies the consumer group, the
partition assignment and the stream; the commit is ours. Faust's own exactly-once mode routes
each output to the transaction of the *output* partition, not of the input whose offset it
commits (faust-streaming/transport/consumer.py, TransactionManager.send), so outputs and offsets
could commit apart. Instead, each input partition has its own transactional producer
(transactional id ``<app>-notices-<partition>``, which fences a zombie owner of that partition)
and one Kafka transaction per batch holds the deliveries, the audit records, the dead letters
and the input offset: all of them or none.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Any

import faust
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError, ProducerFenced
from aiokafka.structs import TopicPartition

from broker import e2e, keys, metrics, retention, signing
from broker.acl import Principals
from broker.errors import ConfigError
from broker.kafka import ensure_topics, wait_for_kafka
from broker.pipeline import OutMessage, Pipeline, Result, Source
from broker.policy import PolicySet, load_policy
from broker.settings import Settings
from broker.topics import policy_topic_specs

log = structlog.get_logger(__name__)
BATCH = 500  # inputs per transaction at most
BATCH_WINDOW = 0.01  # seconds to wait for a batch to fill: latency vs. throughput


class Committer:
    """One transactional producer per input partition; one transaction per batch.

    When a partition's producer is created, ``init_transactions`` completes or aborts whatever
    transaction a crashed owner left open. If that transaction was already committing, its
    input offset lands *after* Faust's consumer fetched the partition's committed offset, and
    the same inputs would be processed twice. aiokafka has no KIP-447 stable offset fetch
    (OffsetFetch v3 at most), so even a fresh OffsetFetch may still miss it. The audit log does
    not: every input's audit records carry its offset and commit in the same transaction, and
    the transaction's markers are on the audit partition before ``init_transactions``
    returns. So the floor is the highest input offset found in the audit log's tail (or the
    committed offset, if higher), and inputs below it are skipped: they are committed already.
    """

    AUDIT_TAIL = 20_000  # audit records to scan back: far more than a few in-flight batches

    def __init__(self, settings: Settings, group_id: str) -> None:
        self.settings = settings
        self.group_id = group_id
        self.producers: dict[int, AIOKafkaProducer] = {}
        self.floors: dict[int, int] = {}
        self._admin: AIOKafkaAdminClient | None = None

    async def floor(self, tp: TopicPartition) -> int:
        """The partition's committed offset as of this worker's producer taking it over."""
        await self._producer(tp.partition)
        if tp.partition not in self.floors:
            if self._admin is None:
                self._admin = AIOKafkaAdminClient(
                    bootstrap_servers=self.settings.bootstrap,
                    **self.settings.kafka.options(Principals().worker))
                await self._admin.start()
            found = await self._admin.list_consumer_group_offsets(self.group_id, partitions=[tp])
            committed = found.get(tp)
            from_group = committed.offset if committed is not None else -1
            from_audit = await self._audited_floor(tp)
            self.floors[tp.partition] = max(from_group, from_audit)
            if from_audit > from_group:
                log.warning("worker.floor_from_audit", partition=tp.partition,
                            committed=from_group, audited=from_audit)
        return self.floors[tp.partition]

    async def _audited_floor(self, tp: TopicPartition) -> int:
        """1 + the highest offset of ``tp`` that the audit log's tail says was processed."""
        marker = f'"source":"{tp.topic}/{tp.partition}/'.encode()
        best = -1
        async for record in read_audit(self.settings, tail=self.AUDIT_TAIL):
            at = record.value.find(marker)
            if at >= 0:
                rest = record.value[at + len(marker):]
                best = max(best, int(rest[: rest.index(b'"')]) + 1)
        return best

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
                request_timeout_ms=30000,
            )
            await producer.start()  # init_transactions: fences and aborts a previous owner
            self.producers[partition] = producer
        return producer

    async def commit(
        self, tp: TopicPartition, messages: list[OutMessage], first: int, next_offset: int
    ) -> bool:
        """Send ``messages`` (the outputs of inputs ``first`` to ``next_offset - 1``) and the
        input offset in one transaction. Retries while Kafka is away; returns False if another
        worker committed these inputs or now owns the partition (we were fenced)."""
        delay = 0.5
        while True:
            try:
                if await self.floor(tp) > first:  # after a retry: someone else committed them
                    log.warning("worker.batch_taken_over", partition=tp.partition)
                    return False
                producer = await self._producer(tp.partition)
                async with producer.transaction():
                    futures = [
                        await producer.send(m.topic, m.value, key=m.key, headers=list(m.headers))
                        for m in messages
                    ]
                    await asyncio.gather(*futures)
                    await producer.send_offsets_to_transaction({tp: next_offset}, self.group_id)
                # inputs below a committed offset are never processed again by this worker:
                # after a rebalance Faust may seek back to an offset fetched before this commit
                self.floors[tp.partition] = max(self.floors.get(tp.partition, -1), next_offset)
                return True
            except ProducerFenced:
                log.warning("worker.fenced", partition=tp.partition)
                await self._drop(tp.partition)
                return False
            except KafkaError as exc:  # Kafka away or a transient error: abort and retry
                log.warning(
                    "worker.commit_retry",
                    partition=tp.partition,
                    error=type(exc).__name__,
                    retry_in_s=delay,
                )
                await self._drop(tp.partition)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _drop(self, partition: int) -> None:
        self.floors.pop(partition, None)
        producer = self.producers.pop(partition, None)
        if producer is not None:
            with contextlib.suppress(KafkaError):
                await producer.stop()

    async def revoke(self, partitions: Iterable[int]) -> None:
        for p in partitions:
            await self._drop(p)

    async def stop(self) -> None:
        await self.revoke(list(self.producers))
        if self._admin is not None:
            with contextlib.suppress(KafkaError):
                await self._admin.close()


def _messages(result: Result) -> list[OutMessage]:
    dead = [result.dead_letter] if result.dead_letter else []
    return [*result.deliveries, *dead, *result.audit_records]


def _observe(result: Result, source: Source, started: float) -> None:
    """Metrics and one log line per input: ids, recipients, codes; never a field value."""
    if result.error:
        metrics.DEAD_LETTERED.labels(code=result.error.code).inc()
        log.warning("notice.dead_lettered", code=result.error.code, source=str(source),
                    fields=[p.field for p in result.error.problems])
        return
    for d in result.decisions:
        metrics.DECISIONS.labels(recipient=d.recipient, outcome=d.outcome.value).inc()
    metrics.LATENCY.observe(time.monotonic() - started)
    first = result.decisions[0]
    log.info("notice.decided", notice_id=str(first.notice_id), notice_type=first.notice_type,
             policy_version=first.policy_version[:19],
             decisions={d.recipient: d.outcome.value for d in result.decisions},
             rules={d.recipient: d.rule_id for d in result.decisions if d.rule_id})


def security(settings: Settings, policy: PolicySet, guard: signing.ReplayGuard,
             ) -> tuple[signing.NoticeVerifier, e2e.DeliverySealer, e2e.NoticeOpener]:
    """The notice verifier, the delivery sealer and the broker's inbox (it unseals notices),
    or a ConfigError naming what is missing."""
    retention.load_retention(settings.policy_dir)  # fail fast on a bad retention.yaml
    paths = settings.key_paths()
    registry = keys.load_registry(paths.registry)
    broker_key = keys.signing_key(paths, registry, keys.KeyKind.broker, keys.BROKER_OWNER)
    sealer = e2e.DeliverySealer(registry, broker_key,
                                retention.SqliteDataKeyStore(paths.data_keys))
    missing = sealer.missing_recipients(sorted({r.recipient for r in policy.rules}))
    if missing:
        raise ConfigError("no active encryption key for " + ", ".join(missing)
                          + " (broker keys generate --recipient ID)")
    verifier = signing.NoticeVerifier(registry, guard, max_age=settings.notice_max_age)
    inbox_keys = keys.decryption_keys(paths, registry, e2e.BROKER_INBOX)
    if not inbox_keys:
        raise ConfigError("the broker has no encryption key for its inbox "
                          "(broker keys generate --recipient broker)")
    return verifier, sealer, e2e.NoticeOpener(inbox_keys)


async def read_audit(settings: Settings, *, tail: int | None = None,
                     since: datetime | None = None) -> AsyncIterator[ConsumerRecord]:
    """Committed audit records (one partition), from ``tail`` records before the end or from
    the first record at ``since``, up to the last stable offset: records beyond it belong to
    an open transaction and do not count yet (and waiting for it could take minutes)."""
    audit = TopicPartition(settings.topics.audit, 0)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap, enable_auto_commit=False,
        isolation_level="read_committed", max_partition_fetch_bytes=8 * 1024 * 1024,
        **settings.kafka.options(Principals().worker))
    await consumer.start()
    try:
        consumer.assign([audit])
        end = (await consumer.end_offsets([audit]))[audit]
        start = max(0, end - tail) if tail is not None else 0
        if since is not None:
            found = (await consumer.offsets_for_times(
                {audit: int(since.timestamp() * 1000)})).get(audit)
            start = found.offset if found is not None else end
        consumer.seek(audit, start)
        while await consumer.position(audit) < end:
            batch = await consumer.getmany(audit, timeout_ms=1000, max_records=10_000)
            if not batch:  # at the last stable offset
                return
            for record in batch.get(audit, []):
                yield record
    finally:
        await consumer.stop()


async def preload_replay_guard(settings: Settings, guard: signing.ReplayGuard) -> int:
    """Fill the replay guard from the audit log of the last ``notice_max_age``: the audit
    records commit in the same transactions as the offsets, so after a restart the guard knows
    exactly the notices that were processed, and where."""
    n = 0
    async for r in read_audit(settings, since=datetime.now(UTC) - settings.notice_max_age):
        data = json.loads(r.value)
        if data.get("notice_id") and data.get("source"):
            recorded = datetime.fromisoformat(data["recorded_at"])
            guard.claim(data["notice_id"], data["source"], recorded + settings.notice_max_age)
            n += 1
    return n


def build_pipeline(settings: Settings, policy: PolicySet,
                   guard: signing.ReplayGuard) -> Pipeline:
    """The pipeline with its keys: a ConfigError here stops start-up before Kafka is awaited."""
    verifier, sealer, inbox = security(settings, policy, guard)
    return Pipeline(policy, settings.topics, settings.subject_key(),
                    verifier=verifier, sealer=sealer, inbox=inbox)


def create_app(settings: Settings, pipeline: Pipeline) -> faust.App:
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

    @app.agent(notices)
    async def process(stream: Any) -> None:
        async for events in stream.take_events(BATCH, within=BATCH_WINDOW):
            started = time.monotonic()
            by_tp: dict[TopicPartition, list[Any]] = defaultdict(list)
            for event in events:
                msg = event.message
                by_tp[TopicPartition(msg.topic, msg.partition)].append(msg)
            for tp, batch in by_tp.items():
                floor = await committer.floor(tp)
                msgs = [m for m in batch if m.offset >= floor]  # below: committed already
                if not msgs:
                    continue
                results = [
                    pipeline.process(m.value, m.headers, Source(m.topic, m.partition, m.offset))
                    for m in msgs
                ]
                out = [m for r in results for m in _messages(r)]
                if await committer.commit(tp, out, msgs[0].offset, msgs[-1].offset + 1):
                    for m, r in zip(msgs, results, strict=True):
                        _observe(r, Source(m.topic, m.partition, m.offset), started)
                    metrics.RECEIVED.inc(len(msgs))

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

    return app


def run(settings: Settings, loglevel: str = "info") -> None:
    """Wait for Kafka, ensure topics exist, then run the Faust worker until SIGTERM/SIGINT."""
    policy = load_policy(settings.policy_dir)  # a bad policy file stops start-up here
    specs = policy_topic_specs(settings.topics, policy)
    guard = signing.MemoryReplayGuard()
    pipeline = build_pipeline(settings, policy, guard)  # and missing keys, before Kafka

    async def prepare() -> None:
        who = Principals().worker
        await wait_for_kafka(settings.bootstrap, timeout=None, principal=who)
        created = await ensure_topics(settings.bootstrap, specs, principal=who)
        if created:
            log.info("topics.created", topics=created)
        loaded = await preload_replay_guard(settings, guard)
        log.info("worker.replay_guard_loaded", notices=loaded)

    asyncio.run(prepare())  # fills the guard the pipeline already holds
    if settings.metrics_port:
        metrics.serve(settings.metrics_port)
    app = create_app(settings, pipeline)
    worker = faust.Worker(app, loglevel=loglevel, quiet=True)
    logging.getLogger("faust").setLevel(logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    worker.execute_from_commandline()
