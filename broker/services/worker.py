"""The Faust worker, a composition root: settings → keys, policy, pipeline, committer; then a
Faust agent that decodes a batch, calls the core and commits what it returns.

Kept thin: every decision is made in broker.core.pipeline, every commit in
broker.adapters.kafka.transactions (one Kafka transaction per batch and input partition, with
the input offset: all of it or none), the worker's restart state (each partition's floor, the
replay guard) in broker.adapters.kafka.progress. Faust supplies the consumer group, the
partition assignment and the stream; it commits no offsets of its own. No input stops the
worker: the pipeline never raises, a record the client cannot parse is a placeholder
(broker.adapters.kafka.records), Kafka refusing an output dead-letters that input alone, and
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
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

import faust
import structlog
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition

from broker.adapters import metrics
from broker.adapters.kafka import records as kafka_records
from broker.adapters.kafka.admin import partition_counts
from broker.adapters.kafka.clients import Connection, ensure_topics, wait_for_kafka
from broker.adapters.kafka.progress import ProgressLog
from broker.adapters.kafka.transactions import (
    CommitImpossible,
    Committer,
    OutputRefused,
    WorkerStopping,
)
from broker.adapters.policy_files import load_directory
from broker.adapters.policy_files import require as gated_policy
from broker.adapters.retention_files import load_retention
from broker.adapters.settings import Settings
from broker.adapters.stores import keyfiles
from broker.adapters.stores.datakeys import SqliteDataKeyStore
from broker.core.audit import writers
from broker.core.crypto import sealing, signing
from broker.core.crypto.registry import BROKER_OWNER, KeyKind
from broker.core.deployment.acl import Principals
from broker.core.deployment.topics import TopicSpec, topic_plan
from broker.core.directory import Directory
from broker.core.errors import ConfigError
from broker.core.pipeline import OutMessage, Pipeline, Result, Source
from broker.core.policy import PolicySet

log = structlog.get_logger(__name__)
BATCH = 500  # inputs per transaction at most
BATCH_WINDOW = 0.01  # seconds to wait for a batch to fill: latency vs. throughput
STOP_DEADLINE = 8.0  # seconds from SIGTERM to exit, whatever the worker is doing
PRUNE_EVERY = 60.0  # seconds between replay-guard prunes


class Commits(Protocol):
    """What deciding needs of the committer (broker.adapters.kafka.transactions.Committer)."""

    async def commit(
        self, tp: TopicPartition, messages: list[OutMessage], first: int, next_offset: int
    ) -> bool: ...


async def decide_batch(committer: Committer, pipeline: Pipeline, msgs: list[Any]) -> None:
    """Decide and commit a batch of Faust messages, partition by partition; inputs below a
    partition's floor are committed already and skipped."""
    started = time.monotonic()
    by_tp: dict[TopicPartition, list[Any]] = defaultdict(list)
    for msg in msgs:
        by_tp[TopicPartition(msg.topic, msg.partition)].append(msg)
    for tp, batch in by_tp.items():
        floor = await committer.floor(tp)
        fresh = [m for m in batch if m.offset >= floor]
        if fresh:
            await decide_and_commit(committer, pipeline, tp, fresh, started)


async def decide_and_commit(
    committer: Commits, pipeline: Pipeline, tp: TopicPartition, msgs: list[Any], started: float
) -> None:
    """Decide a batch of one partition's inputs and commit it. If Kafka refuses an output,
    commit the inputs one by one, and an input whose own outputs are refused becomes a dead
    letter by reference: it never holds back the others, and nothing is committed past an
    input without its audit record."""
    sources = [Source(m.topic, m.partition, m.offset) for m in msgs]
    results = [pipeline.process(m.value, m.headers, s) for m, s in zip(msgs, sources, strict=True)]
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
    directory: Directory,
    guard: signing.ReplayGuard,
) -> tuple[signing.NoticeVerifier, sealing.DeliverySealer, sealing.NoticeOpener]:
    """The notice verifier, the delivery sealer and the broker's inbox (it unseals notices),
    or a ConfigError naming what is missing."""
    load_retention(settings.policy_dir)  # fail fast on a bad retention.yaml
    paths = settings.key_paths()
    registry = keyfiles.load_registry(paths.registry)
    broker_key = keyfiles.signing_key(paths, registry, KeyKind.broker, BROKER_OWNER)
    sealer = sealing.DeliverySealer(registry, broker_key)
    # every organisation that fills a role some rule delivers to
    roles = {r.recipient for r in policy.rules}
    receiving = [o.id for o in directory.organisations.values() if o.kind in roles]
    missing = sealer.missing_keys(receiving)
    if missing:
        raise ConfigError(
            f"no active encryption key for {len(missing)} organisation(s): "
            + ", ".join(missing[:10])
            + (", …" if len(missing) > 10 else "")
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


def build_pipeline(settings: Settings, policy: PolicySet, guard: signing.ReplayGuard) -> Pipeline:
    """The pipeline with its keys: a ConfigError here stops start-up before Kafka is awaited."""
    directory = load_directory(policy)  # a missing or invalid directory stops start-up here
    verifier, sealer, inbox = security(settings, policy, directory, guard)
    paths = settings.key_paths()
    audit_key = keyfiles.writer_key(paths, keyfiles.load_registry(paths.registry), writers.WORKER)
    return Pipeline(
        policy,
        settings.topics,
        settings.subject_key(),
        directory=directory,
        clock=lambda: datetime.now(UTC),
        verifier=verifier,
        inbox=inbox,
        sealer=sealer,
        data_keys=SqliteDataKeyStore(paths.data_keys),
        audit_key=audit_key,
    )


class Housekeeping:
    """Every PRUNE_EVERY seconds: forget replay-guard entries past their window, and audit the
    progress records the worker skipped."""

    def __init__(
        self,
        guard: signing.MemoryReplayGuard,
        progress: ProgressLog,
        worker_state: Callable[[str, str], OutMessage],
    ) -> None:
        self.guard = guard
        self.progress = progress
        self.worker_state = worker_state
        self.pruned_at = time.monotonic()

    async def __call__(self) -> None:
        if time.monotonic() - self.pruned_at < PRUNE_EVERY:
            return
        self.pruned_at = time.monotonic()
        forgotten = self.guard.prune(datetime.now(UTC))
        metrics.REPLAY_GUARD.set(len(self.guard))
        if forgotten:
            log.info("worker.replay_guard_pruned", forgotten=forgotten, kept=len(self.guard))
        with contextlib.suppress(KafkaError):
            await self.progress.audit_corrupt_progress(self.worker_state)


def _faust_app(settings: Settings) -> faust.App:
    ssl_context = settings.kafka.ssl_context(Principals().worker)
    return faust.App(
        settings.app_id,
        # every bootstrap server its own URL (Faust reads "kafka://a;kafka://b")
        broker=";".join(f"kafka://{h.strip()}" for h in settings.bootstrap.split(",")),
        producer_acks=-1,  # acks=all: written once min.insync.replicas copies hold it
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


def create_app(
    settings: Settings, pipeline: Pipeline, committer: Committer, housekeeping: Housekeeping
) -> faust.App:
    """The Faust app: one agent on the notices topic, and the committer told of revocations
    and shutdown."""
    app = _faust_app(settings)
    notices = app.topic(
        settings.topics.notices,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )

    @app.agent(notices)
    async def process(stream: Any) -> None:
        async for events in stream.take_events(BATCH, within=BATCH_WINDOW):
            if committer.stopping.is_set():
                continue  # uncommitted: the next owner of these partitions decides them
            try:
                await decide_batch(committer, pipeline, [event.message for event in events])
                await housekeeping()
            except WorkerStopping:
                continue
            except CommitImpossible as exc:
                _stop_loudly(committer, exc)

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
            policy_version=pipeline.policy.version,
            notices=settings.topics.notices,
            recipients=len(pipeline.policy.recipients),
            guarantee="kafka-transactions",
        )

    return app


def _stop_loudly(committer: Committer, exc: CommitImpossible) -> None:
    hint = "the worker may not write its outputs: check its ACLs"
    log.error("worker.cannot_commit", error=str(exc), hint=hint)
    committer.stopping.set()
    os.kill(os.getpid(), signal.SIGTERM)


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
    guard = signing.MemoryReplayGuard()
    pipeline = build_pipeline(settings, policy, guard)  # and missing keys, before Kafka
    progress = ProgressLog(settings)
    specs = topic_plan(settings.topics, pipeline.directory, settings.replication)
    asyncio.run(prepare(settings, specs, progress, guard, pipeline.worker_state))
    if settings.metrics_port:
        metrics.serve(settings.metrics_port)
    committer = Committer(settings, settings.app_id, progress)
    housekeeping = Housekeeping(guard, progress, pipeline.worker_state)
    worker = _Worker(
        create_app(settings, pipeline, committer, housekeeping), loglevel=loglevel, quiet=True
    )
    worker.committer = committer
    logging.getLogger("faust").setLevel(logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    worker.execute_from_commandline()


async def prepare(
    settings: Settings,
    specs: Iterable[TopicSpec],
    progress: ProgressLog,
    guard: signing.MemoryReplayGuard,
    worker_state: Callable[[str, str], OutMessage],
) -> None:
    """Before the first input: Kafka answers, the topics exist, each notices partition has its
    progress partition, the replay guard (which the pipeline already holds) has the claims of
    the notices accepted, and the progress records skipped reading them are audited."""
    who = Principals().worker
    await wait_for_kafka(settings.bootstrap, timeout=None, principal=who)
    created = await ensure_topics(settings.bootstrap, specs, principal=who)
    if created:
        log.info("topics.created", topics=created)
    partitions = await _check_partitions(settings)
    loaded = await progress.preload_replay_guard(guard, partitions)
    log.info("worker.replay_guard_loaded", notices=loaded)
    await progress.audit_corrupt_progress(worker_state)


async def _check_partitions(settings: Settings) -> int:
    """Each notices partition needs a progress partition of the same number."""
    topics = settings.topics
    count = await partition_counts(
        Connection.of(settings, Principals().worker), [topics.notices, topics.progress]
    )
    notices, progress = count.get(topics.notices, 0), count.get(topics.progress, 0)
    if not notices or progress < notices:
        raise ConfigError(
            f"topic {topics.progress} has {progress} partitions; "
            f"it needs one per partition of {topics.notices} ({notices})"
        )
    return progress
