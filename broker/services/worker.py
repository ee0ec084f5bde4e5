"""The Faust worker, a composition root: settings → keys, policy, pipeline, committers; then a
Faust app of two agents, each of which decodes a batch, calls the core and commits what it
returns (broker.services.stages).

One partition owns each child, and so each notice id (broker.core.repartition): the route agent
forwards every input of the notices topic to the worker-only routed topic, on the partition of
the child's key it claims, and the decide agent decides what it reads there, so the replay guard
of that one partition sees every copy of a notice, whichever input partition and worker it came
through.
Kept thin: every decision is made in broker.core.pipeline, every commit in
broker.adapters.kafka.transactions (one Kafka transaction per batch and input partition, with
the input offset: all of it or none), the worker's restart state (each partition's floor, the
replay claims of each routed partition, loaded when the worker takes it over) in
broker.adapters.kafka.progress. Faust supplies the consumer group, the partition assignment and
the streams; it commits no offsets of its own, and reads committed only (the routed topic is
written in transactions). No input stops the worker: the pipeline never raises, a record the
client cannot parse is a placeholder (broker.adapters.kafka.records), Kafka refusing an output
dead-letters that input alone, and SIGTERM ends the process within ``STOP_DEADLINE`` seconds
whatever it is doing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

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
    WorkerStopping,
    retry_concurrent_transactions_sooner,
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
from broker.core.pipeline import OutMessage, Pipeline
from broker.core.policy import PolicySet
from broker.services import stages as stages_

log = structlog.get_logger(__name__)
BATCH = 500  # inputs per transaction at most
BATCH_WINDOW = 0.002  # seconds to wait for a batch to fill: latency vs. throughput
FETCH_WAIT_MS = 10  # how long a fetch waits at the broker for records (Faust's fixed 1,500)
STOP_DEADLINE = 8.0  # seconds from SIGTERM to exit, whatever the worker is doing
PRUNE_EVERY = 60.0  # seconds between replay-guard prunes


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


@dataclass
class Stages:
    """The worker's two committers: one per stage, each with its own transactional ids."""

    route: Committer
    decide: Committer

    @property
    def both(self) -> tuple[Committer, Committer]:
        return (self.route, self.decide)

    def stop_at_once(self) -> None:
        for c in self.both:
            c.stopping.set()


def create_app(
    settings: Settings,
    pipeline: Pipeline,
    stages: Stages,
    housekeeping: Housekeeping,
    partitions: int,
) -> faust.App:
    """The Faust app: the route agent on the notices topic, the decide agent on the routed
    topic (``partitions`` partitions), and the committers told of revocations and shutdown."""
    app = _faust_app(settings)

    def raw(name: str) -> Any:
        return app.topic(
            name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
        )

    notices, routed = raw(settings.topics.notices), raw(settings.topics.routed)

    async def route_stage(tp: TopicPartition, msgs: list[Any], started: float) -> None:
        await stages_.route_and_commit(
            stages.route,
            pipeline,
            tp,
            msgs,
            started,
            topic=settings.topics.routed,
            partitions=partitions,
        )

    async def decide_stage(tp: TopicPartition, msgs: list[Any], started: float) -> None:
        inputs = [stages_.Input.routed(m, partitions) for m in msgs]
        await stages_.decide_and_commit(stages.decide, pipeline, tp, inputs, started)

    async def each_batch(committer: Committer, stage: Any, stream: Any) -> None:
        async for events in stream.take_events(BATCH, within=BATCH_WINDOW):
            if committer.stopping.is_set():
                continue  # uncommitted: the next owner of these partitions does them
            try:
                await stages_.by_partition(committer, [e.message for e in events], stage)
                await housekeeping()
            except WorkerStopping:
                continue
            except CommitImpossible as exc:
                _stop_loudly(stages, exc)

    @app.agent(notices)
    async def route(stream: Any) -> None:
        await each_batch(stages.route, route_stage, stream)

    @app.agent(routed)
    async def decide(stream: Any) -> None:
        await each_batch(stages.decide, decide_stage, stream)

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]  # mode wants keyword signal
    async def on_revoked(sender: Any, *args: Any, **kwargs: Any) -> None:
        revoked: set[Any] = args[0] if args else set()
        # another worker may own these now: its producers will fence ours anyway
        await stages.route.revoke({tp.partition for tp in revoked if tp.topic == notices_topic})
        await stages.decide.revoke({tp.partition for tp in revoked if tp.topic == routed_topic})

    notices_topic, routed_topic = settings.topics.notices, settings.topics.routed

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def on_shutdown(sender: Any, *args: Any, **kwargs: Any) -> None:
        for c in stages.both:
            await c.stop()
        log.info("worker.stopped")

    @app.task
    async def announce() -> None:
        log.info(
            "worker.ready",
            policy_version=pipeline.policy.version,
            notices=settings.topics.notices,
            routed=settings.topics.routed,
            recipients=len(pipeline.policy.recipients),
            guarantee="kafka-transactions",
        )

    return app


def _stop_loudly(stages: Stages, exc: CommitImpossible) -> None:
    hint = "the worker may not write its outputs: check its ACLs"
    log.error("worker.cannot_commit", error=str(exc), hint=hint)
    stages.stop_at_once()
    os.kill(os.getpid(), signal.SIGTERM)


class _Worker(faust.Worker):
    """Faust's worker, with a deadline: SIGTERM or SIGINT stops retry loops at once, and a
    watchdog ends the process after STOP_DEADLINE seconds if a graceful stop hangs (safe: an
    uncommitted transaction is aborted by the next owner, and its inputs decided again)."""

    stages: Stages

    def _deadline(self) -> None:
        self.stages.stop_at_once()

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


def _faust_reads_committed() -> None:
    """The decide agent must never see a routed input of a transaction that was aborted (a
    route batch redone after a crash would be decided twice): Faust's consumer reads
    read_committed only in Faust's own exactly-once mode, which the worker does not use
    (broker.adapters.kafka.transactions), so its consumer is made read_committed here. For
    the notices topic nothing changes: publishers write no transactions.

    Faust also fixes the consumer's fetch wait at 1.5 s. A fetch of committed records waits at
    the broker past the commit that makes them readable (bench/breakdown.py measured 8.6 ms at
    the median and 81 ms at worst with a 500 ms wait, 3.4 ms and 11 ms with 10 ms), so the
    wait is FETCH_WAIT_MS: an idle worker sends a few more empty fetches."""
    from faust.transport.drivers import aiokafka as driver  # noqa: PLC0415

    create = driver.AIOKafkaConsumerThread._create_worker_consumer

    def committed_only(self: Any, transport: Any) -> Any:
        consumer = create(self, transport)
        consumer._isolation_level = "read_committed"  # what start() gives its fetcher
        consumer._fetch_max_wait_ms = FETCH_WAIT_MS
        return consumer

    driver.AIOKafkaConsumerThread._create_worker_consumer = committed_only  # type: ignore[method-assign]


def run(settings: Settings, loglevel: str = "info") -> None:
    """Wait for Kafka, ensure topics exist, then run the Faust worker until SIGTERM/SIGINT."""
    kafka_records.install()  # a record the client cannot parse must not stop the worker
    _faust_commits_no_offsets()
    _faust_reads_committed()
    retry_concurrent_transactions_sooner()
    # a bad policy file, a lint warning or a failing policy test case stops start-up here
    policy = gated_policy(settings.policy_dir)
    guard = signing.MemoryReplayGuard()
    pipeline = build_pipeline(settings, policy, guard)  # and missing keys, before Kafka
    progress = ProgressLog(settings)
    specs = topic_plan(settings.topics, pipeline.directory, settings.replication)
    partitions = asyncio.run(prepare(settings, specs, progress, guard, pipeline.worker_state))
    if settings.metrics_port:
        metrics.serve(settings.metrics_port)

    async def take_over(partition: int) -> None:
        """The routed partition is this worker's now (its previous owner fenced): the claims
        committed there until now into the guard."""
        loaded = await progress.load_claims(guard, [partition])
        log.info("worker.replay_guard_loaded", partition=partition, notices=loaded)
        with contextlib.suppress(KafkaError):
            await progress.audit_corrupt_progress(pipeline.worker_state)

    stages = Stages(
        route=Committer(settings, settings.app_id, progress, "route"),
        decide=Committer(settings, settings.app_id, progress, "decide", acquired=take_over),
    )
    housekeeping = Housekeeping(guard, progress, pipeline.worker_state)
    app = create_app(settings, pipeline, stages, housekeeping, partitions)
    worker = _Worker(app, loglevel=loglevel, quiet=True)
    worker.stages = stages
    logging.getLogger("faust").setLevel(logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    worker.execute_from_commandline()


async def prepare(
    settings: Settings,
    specs: Iterable[TopicSpec],
    progress: ProgressLog,
    guard: signing.MemoryReplayGuard,
    worker_state: Callable[[str, str], OutMessage],
) -> int:
    """Before the first input: Kafka answers, the topics exist, each notices and routed
    partition has its progress partition, the replay guard (which the pipeline already holds)
    has every claim committed so far, and the progress records skipped are audited. Returns
    how many routed partitions there are. (Each routed partition's claims are read again when
    the worker takes it over: another worker may have accepted notices there since.)"""
    who = Principals().worker
    await wait_for_kafka(settings.bootstrap, timeout=None, principal=who)
    created = await ensure_topics(settings.bootstrap, specs, principal=who)
    if created:
        log.info("topics.created", topics=created)
    partitions, progress_partitions = await _check_partitions(settings)
    loaded = await progress.load_claims(guard, list(range(progress_partitions)))
    log.info("worker.replay_guard_loaded", notices=loaded)
    await progress.audit_corrupt_progress(worker_state)
    return partitions


async def _check_partitions(settings: Settings) -> tuple[int, int]:
    """Each notices and each routed partition needs a progress partition of the same number;
    returns the routed topic's partition count (the routing's modulus) and the progress
    topic's."""
    topics = settings.topics
    count = await partition_counts(
        Connection.of(settings, Principals().worker),
        [topics.notices, topics.routed, topics.progress],
    )
    progress = count.get(topics.progress, 0)
    for name in (topics.notices, topics.routed):
        if not count.get(name, 0) or progress < count[name]:
            raise ConfigError(
                f"topic {topics.progress} has {progress} partitions; "
                f"it needs one per partition of {name} ({count.get(name, 0)})"
            )
    return count[topics.routed], progress
