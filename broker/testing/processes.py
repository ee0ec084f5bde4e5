"""Helpers to run the real system in tests, benchmarks and drills: synthetic notices, fresh
topic prefixes and the kill -9 fault drill (the processes themselves: broker.services.local).

Like structlog's ``testing`` module: shipped with the package so tests and benchmarks use the
real worker on a real Kafka instead of mocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import random
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import date, timedelta
from typing import Any

from broker.adapters.examples import templates
from broker.adapters.kafka import auditlog
from broker.adapters.kafka.clients import Connection, new_consumer, new_producer
from broker.adapters.policy_files import load_directory, load_policy
from broker.adapters.publisher import by_sender, notice_message, sender_of
from broker.adapters.settings import Settings
from broker.core import national_id
from broker.core.audit.errors import NotAnAuditMessage
from broker.core.audit.events import Entry
from broker.core.audit.messages import read_audit_message
from broker.core.deployment.acl import Principals
from broker.core.notices import NOTICE_MODELS
from broker.core.pipeline import OutMessage
from broker.core.records import AuditEvent, AuditRecord
from broker.services.local import WorkerProcess, broker_command


def synthetic_notices(n: int, seed: int = 1) -> Iterator[dict[str, Any]]:
    """``n`` valid notices about invented children (synthetic national id numbers), built from
    the examples with a fresh notice id, child and birth date each."""
    rng = random.Random(seed)  # noqa: S311 - reproducible invented test data, not secrets
    bases = templates()
    for i in range(n):
        doc = copy.deepcopy(bases[i % len(bases)])
        born = date(2010, 1, 1) + timedelta(days=rng.randrange(0, 5 * 365))
        doc["notice_id"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        doc["child"]["birth_date"] = born.isoformat()
        doc["child"]["national_id"] = national_id.synthetic(born, rng.randrange(500, 900))
        yield doc


def encode(doc: dict[str, Any], settings: Settings) -> OutMessage:
    model = NOTICE_MODELS[(doc["notice_type"], 1)]
    return notice_message(model.model_validate(doc), settings)


def fresh_settings(base: Settings | None = None, tag: str = "t") -> Settings:
    prefix = f"{tag}-{uuid.uuid4().hex[:8]}."
    s = base or Settings.from_env()
    return dataclasses.replace(s, topic_prefix=prefix, app_id=f"{prefix}broker")


# --- fault drill -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DrillEvent:
    """Something done during a drill, to Kafka or to the workers: at ``at`` (a fraction of the
    publishing time), ``action`` (restart the node, kill -9 one node of a cluster, start or
    stop a worker, …), announced as ``says``."""

    at: float
    says: str
    action: Callable[[], object]


@dataclasses.dataclass
class DrillReport:
    published: int = 0
    notices_on_topic: int = 0
    duplicate_inputs: int = 0
    kills: int = 0
    events: int = 0  # drill events done (DrillEvent), beside the kills
    recipients: int = 0
    decisions: int = 0
    duplicate_decisions: int = 0
    missing_decisions: int = 0
    deliveries: int = 0
    duplicate_deliveries: int = 0
    audited_deliveries: int = 0
    dead_lettered: int = 0
    aborted_records_seen_uncommitted: int = 0
    audit_log_verifies: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (
            self.duplicate_decisions == 0
            and self.missing_decisions == 0
            and self.audit_log_verifies
            and self.duplicate_deliveries == 0
            and self.deliveries == self.audited_deliveries
            and self.decisions == self.notices_on_topic * self.recipients
        )


async def _read_all(settings: Settings, topics: list[str], isolation: str) -> list[Any]:
    consumer = new_consumer(
        Connection.of(settings, Principals().admin),
        *topics,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level=isolation,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    await consumer.start()
    records: list[Any] = []
    try:
        end = await consumer.end_offsets(list(consumer.assignment()))
        while True:
            batch = await consumer.getmany(timeout_ms=500, max_records=10000)
            for recs in batch.values():
                records += recs
            positions = {tp: await consumer.position(tp) for tp in consumer.assignment()}
            if not batch and all(positions[tp] >= end[tp] for tp in end):
                return records
    finally:
        await consumer.stop()


def _audit_records(entries: list[Entry]) -> list[AuditRecord]:
    """The audit records among the log's messages, read as their model (checkpoints, reviews
    and anything that is not a message left out)."""
    records = []
    for e in entries:
        with contextlib.suppress(NotAnAuditMessage):
            message = read_audit_message(e.ce_type, e.value)
            if isinstance(message, AuditRecord):
                records.append(message)
    return records


async def fault_drill(
    settings: Settings,
    worker: WorkerProcess,
    *,
    notices: int,
    rate: float,
    kills: int,
    events: Sequence[DrillEvent] = (),
    seed: int = 3,
    settle_timeout: float = 60,
    say: Any = print,
) -> DrillReport:
    """Publish ``notices`` at ``rate``/s while kill -9'ing the worker ``kills`` times at random
    moments (restarting it each time) and doing the ``events``; then
    check that every notice has exactly one decision per recipient and every delivery is on
    its topic exactly once (read committed), with nothing missing."""
    rng = random.Random(seed)  # noqa: S311 - reproducible chaos, not secrets
    report = DrillReport(kills=kills, recipients=len(load_policy(settings.policy_dir).recipients))
    docs = list(synthetic_notices(notices, seed=seed))
    messages = [encode(d, settings) for d in docs]
    duration = notices / rate
    schedule: list[tuple[float, DrillEvent | None]] = [
        (rng.uniform(0.05, 1.0) * duration, None) for _ in range(kills)
    ]
    schedule += [(e.at * duration, e) for e in events]
    started = time.monotonic()

    async def publish() -> None:
        report.published = await _publish_at_rate(settings, messages, rate, started)

    async def chaos() -> None:
        for at, event in sorted(schedule, key=lambda e: e[0]):
            await asyncio.sleep(max(0.0, started + at - time.monotonic()))
            if event is None:
                await asyncio.to_thread(worker.kill)
                say(f"  {time.monotonic() - started:6.1f} s  kill -9 worker; restarting")
                await asyncio.to_thread(worker.start)
            else:
                say(f"  {time.monotonic() - started:6.1f} s  {event.says}")
                await asyncio.to_thread(event.action)
                report.events += 1

    await asyncio.gather(publish(), chaos())
    say(f"  {time.monotonic() - started:6.1f} s  published {report.published}; settling")
    await _tally(settings, report, settle_timeout)
    report.seconds = time.monotonic() - started
    return report


async def _publish_at_rate(
    settings: Settings, messages: list[OutMessage], rate: float, started: float
) -> int:
    """Send message ``i`` at ``started + i / rate``, one idempotent producer per sender class in
    the stream (each with its own principal); returns how many were acknowledged."""
    producers = {
        sender: new_producer(
            Connection.of(settings, Principals.publisher(sender)),
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            request_timeout_ms=120000,
            retry_backoff_ms=500,
        )
        for sender in by_sender(messages)
    }
    started_producers = []
    try:
        for producer in producers.values():
            await producer.start()
            started_producers.append(producer)
        futures = []
        for i, m in enumerate(messages):
            await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
            producer = producers[sender_of(m)]
            futures.append(
                await producer.send(m.topic, m.value, key=m.key, headers=list(m.headers))
            )
        await asyncio.gather(*futures)
        return len(futures)
    finally:
        for producer in started_producers:
            await producer.stop()


async def _tally(settings: Settings, report: DrillReport, settle_timeout: float) -> None:
    """Count, read committed, what the drill left on the topics."""
    inputs = await _read_all(settings, [settings.topics.notices], "read_committed")
    input_ids = [r.headers and dict(r.headers).get("ce_id", b"").decode() for r in inputs]
    report.notices_on_topic = len(set(input_ids))
    report.duplicate_inputs = len(input_ids) - len(set(input_ids))
    expected = report.notices_on_topic * report.recipients
    # wait while the worker catches up; give up only when it makes no progress for a while
    last_progress, seen = time.monotonic(), -1
    while True:
        audit = await auditlog.entries(settings, Principals().admin)
        records = _audit_records(audit)
        decisions = [r for r in records if r.event is AuditEvent.decision]
        if len(decisions) > seen:
            last_progress, seen = time.monotonic(), len(decisions)
        if len(decisions) >= expected or time.monotonic() - last_progress > settle_timeout:
            break
        await asyncio.sleep(2)
    counts: dict[tuple[str | None, str | None], int] = {}
    for d in decisions:
        k = (d.notice_id, d.recipient)
        counts[k] = counts.get(k, 0) + 1
    report.decisions = len(decisions)
    report.duplicate_decisions = sum(c - 1 for c in counts.values() if c > 1)
    report.missing_decisions = expected - len(counts)
    report.dead_lettered = sum(1 for r in records if r.event is AuditEvent.dead_letter)
    report.audited_deliveries = len({d.delivery_id for d in decisions if d.delivery_id})
    directory = load_directory(load_policy(settings.policy_dir))
    topics = [settings.topics.delivery(t) for t in directory.topics.values()]
    deliveries = await _read_all(settings, topics, "read_committed")
    ids = [dict(r.headers)["ce_id"] for r in deliveries]
    report.deliveries = len(ids)
    report.duplicate_deliveries = len(ids) - len(set(ids))
    raw = await auditlog.entries(settings, Principals().admin, committed=False)
    report.aborted_records_seen_uncommitted = len(raw) - len(audit)
    # seal what the drill wrote, then verify the whole log against the checkpoints
    sealed = await asyncio.to_thread(broker_command, settings, "audit", "seal", "--once")
    verified = await asyncio.to_thread(broker_command, settings, "audit", "verify")
    report.audit_log_verifies = sealed.returncode == 0 and verified.returncode == 0
