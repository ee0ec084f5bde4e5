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
import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import faust
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, ProducerFenced
from aiokafka.structs import TopicPartition

from broker import metrics
from broker.acl import Principals
from broker.kafka import ensure_topics, wait_for_kafka
from broker.pipeline import OutMessage, Pipeline, Result, Source
from broker.policy import load_policy
from broker.settings import Settings
from broker.topics import topic_specs

log = structlog.get_logger(__name__)
BATCH = 500  # inputs per transaction at most
BATCH_WINDOW = 0.01  # seconds to wait for a batch to fill: latency vs. throughput


class Committer:
    """One transactional producer per input partition; one transaction per batch."""

    def __init__(self, settings: Settings, group_id: str) -> None:
        self.settings = settings
        self.group_id = group_id
        self.producers: dict[int, AIOKafkaProducer] = {}

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
        self, tp: TopicPartition, messages: list[OutMessage], next_offset: int
    ) -> bool:
        """Send ``messages`` and the input offset in one transaction. Retries while Kafka is
        away; returns False if another worker now owns the partition (we were fenced)."""
        delay = 0.5
        while True:
            try:
                producer = await self._producer(tp.partition)
                async with producer.transaction():
                    futures = [
                        await producer.send(m.topic, m.value, key=m.key, headers=list(m.headers))
                        for m in messages
                    ]
                    await asyncio.gather(*futures)
                    await producer.send_offsets_to_transaction({tp: next_offset}, self.group_id)
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
        producer = self.producers.pop(partition, None)
        if producer is not None:
            with contextlib.suppress(KafkaError):
                await producer.stop()

    async def revoke(self, partitions: Iterable[int]) -> None:
        for p in partitions:
            await self._drop(p)

    async def stop(self) -> None:
        await self.revoke(list(self.producers))


def _messages(result: Result) -> list[OutMessage]:
    dead = [result.dead_letter] if result.dead_letter else []
    return [*result.deliveries, *dead, *result.audit_records]


def _observe(result: Result, started: float) -> None:
    if result.error:
        metrics.DEAD_LETTERED.labels(code=result.error.code).inc()
        log.warning("notice.dead_lettered", code=result.error.code)
        return
    for d in result.decisions:
        metrics.DECISIONS.labels(recipient=d.recipient, outcome=d.outcome.value).inc()
    metrics.LATENCY.observe(time.monotonic() - started)


def create_app(settings: Settings) -> faust.App:
    policy = load_policy(settings.policy_dir)  # a bad policy file stops start-up here
    pipeline = Pipeline(policy, settings.topics, settings.subject_key())
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
            for tp, msgs in by_tp.items():
                results = [
                    pipeline.process(m.value, m.headers, Source(m.topic, m.partition, m.offset))
                    for m in msgs
                ]
                out = [m for r in results for m in _messages(r)]
                if await committer.commit(tp, out, msgs[-1].offset + 1):
                    for r in results:
                        _observe(r, started)
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
    policy = load_policy(settings.policy_dir)
    specs = topic_specs(settings.topics, [r.topic for r in policy.recipients.values()])

    async def prepare() -> None:
        who = Principals().worker
        await wait_for_kafka(settings.bootstrap, timeout=None, principal=who)
        created = await ensure_topics(settings.bootstrap, specs, principal=who)
        if created:
            log.info("topics.created", topics=created)

    asyncio.run(prepare())
    if settings.metrics_port:
        metrics.serve(settings.metrics_port)
    app = create_app(settings)
    worker = faust.Worker(app, loglevel=loglevel, quiet=True)
    logging.getLogger("faust").setLevel(logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    worker.execute_from_commandline()
