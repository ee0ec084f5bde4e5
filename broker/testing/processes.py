"""Helpers to run the real system in tests, benchmarks and drills (shell: starts processes).

Like structlog's ``testing`` module: shipped with the package so tests and benchmarks use the
real worker on a real Kafka instead of mocks.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from broker.adapters.kafka.clients import ensure_topics
from broker.adapters.kafka.security import Profile
from broker.adapters.policy_files import load_policy
from broker.adapters.publisher import by_sender, notice_message, sender_of
from broker.adapters.settings import ROOT, Settings
from broker.adapters.stores import keyfiles
from broker.core import national_id
from broker.core.crypto import sealing
from broker.core.crypto.registry import AUDIT_WRITERS, BROKER_OWNER, KeyKind
from broker.core.deployment.acl import Principals
from broker.core.deployment.topics import policy_topic_specs
from broker.core.notices import NOTICE_MODELS, NOTICE_SENDERS
from broker.core.pipeline import OutMessage

EXAMPLES = ROOT / "examples"


def templates() -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(EXAMPLES.glob("*.json"))]


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


def example_units() -> dict[str, str]:
    """Every issuing unit in examples/ (invalid ones included) → its sender class, from the
    types of the notices it issues (incident, risk: police; concern-report: school;
    concern-feedback: child-welfare). A unit whose notices span two classes is an error."""
    docs = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(EXAMPLES.rglob("*.json"))]
    units: dict[str, set[str]] = {}
    for d in docs:
        sender = NOTICE_SENDERS.get(d.get("notice_type"))
        if isinstance(d.get("issuer"), dict) and sender is not None:
            units.setdefault(d["issuer"]["unit_id"], set()).add(sender)
    mixed = sorted(u for u, senders in units.items() if len(senders) > 1)
    if mixed:
        raise ValueError(f"examples/: units issue notices of two sender classes: {mixed}")
    return {u: next(iter(senders)) for u, senders in sorted(units.items())}


def ensure_dev_keys(settings: Settings) -> None:
    """Local keys for a demo or a test run: the broker's signing key, the audit writers' (the
    worker, the sealer, the reviewer, the receipts relay) signing keys, a signing key for every
    police, school or child-welfare unit in the examples, bound to the sender class of the
    notices it issues there, and an encryption key for every recipient a rule can deliver to.
    Existing active keys are kept. A dev unit's organisation is its own unit id (in production
    the operator registers the real organisation with `broker keys generate --organisation`)."""
    paths = settings.key_paths()
    now = datetime.now(UTC)
    keyfiles.ensure(paths, KeyKind.broker, BROKER_OWNER, now)
    for writer in AUDIT_WRITERS:  # each writer of the audit topic signs what it writes
        keyfiles.ensure(paths, KeyKind.audit_writer, writer, now)
    keyfiles.ensure(paths, KeyKind.recipient, sealing.BROKER_INBOX, now)  # notices are sealed to it
    for unit, sender in example_units().items():
        keyfiles.ensure(paths, KeyKind.publisher, unit, now, sender=sender, organisation=unit)
    for recipient in sorted({r.recipient for r in load_policy(settings.policy_dir).rules}):
        keyfiles.ensure(paths, KeyKind.recipient, recipient, now)


def encode(doc: dict[str, Any], settings: Settings) -> OutMessage:
    model = NOTICE_MODELS[(doc["notice_type"], 1)]
    return notice_message(model.model_validate(doc), settings)


def fresh_settings(base: Settings | None = None, tag: str = "t") -> Settings:
    prefix = f"{tag}-{uuid.uuid4().hex[:8]}."
    s = base or Settings.from_env()
    return dataclasses.replace(s, topic_prefix=prefix, app_id=f"{prefix}broker")


def create_topics(settings: Settings) -> None:
    """The topics of ``settings`` (and the local keys a run needs); in the secure profile also
    the ACLs that let each principal do exactly its part on them."""
    ensure_dev_keys(settings)
    if settings.kafka.profile is Profile.secure:
        from broker.cli.acl import apply, planned  # noqa: PLC0415 - the CLI module is heavy

        acls, specs = planned(settings)
        asyncio.run(
            apply(settings.bootstrap, settings.kafka, acls, specs, prefix=settings.topic_prefix)
        )
        return
    policy = load_policy(settings.policy_dir)
    specs = policy_topic_specs(settings.topics, policy)
    asyncio.run(
        ensure_topics(settings.bootstrap, specs, options=settings.kafka.options(Principals().admin))
    )


def free_port_pair() -> int:
    """A port P on 127.0.0.1 with P and P+1 free (a broker's client and controller ports)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port >= 65000:
            continue
        with socket.socket() as s2:
            try:
                s2.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free pair of ports on 127.0.0.1")


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a `broker …` process use ``settings``."""
    return {
        **os.environ,
        "BROKER_TOPIC_PREFIX": settings.topic_prefix,
        "BROKER_APP_ID": settings.app_id,
        "BROKER_BOOTSTRAP": settings.bootstrap,
        "BROKER_STATE_DIR": str(settings.state_dir),
        "BROKER_POLICY_DIR": str(settings.policy_dir),
    }


def broker_command(
    settings: Settings,
    *args: str,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run `broker ARGS…` for ``settings`` and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "broker", *args],
        env=settings_env(settings),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )


@dataclasses.dataclass
class WorkerProcess:
    """A real `broker worker` in its own process, logging to a file."""

    settings: Settings
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    env_extra: dict[str, str] = dataclasses.field(default_factory=dict)

    def start(self, wait_ready: bool = True, timeout: float = 90) -> None:
        ensure_dev_keys(self.settings)
        env = {**settings_env(self.settings), **self.env_extra}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        start_at = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "broker", "worker"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        if wait_ready:
            deadline = time.monotonic() + timeout
            while "worker.ready" not in self.log()[start_at:]:
                if self.process.poll() is not None:
                    raise RuntimeError(f"worker exited:\n{self.log()[-3000:]}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"worker not ready:\n{self.log()[-3000:]}")
                time.sleep(0.1)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        """kill -9: no clean-up, no commit, like a crash."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM and wait for a clean exit."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def peak_rss_mib(self) -> float | None:
        """Peak resident memory (VmHWM) of the running worker."""
        if not self.process or self.process.poll() is not None:
            return None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return None


# --- fault drill -----------------------------------------------------------------------------


@dataclasses.dataclass
class DrillReport:
    published: int = 0
    notices_on_topic: int = 0
    duplicate_inputs: int = 0
    kills: int = 0
    broker_restarts: int = 0
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
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=settings.bootstrap,
        enable_auto_commit=False,
        **settings.kafka.options(Principals().admin),
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


async def fault_drill(
    settings: Settings,
    worker: WorkerProcess,
    *,
    notices: int,
    rate: float,
    kills: int,
    restart_broker: Any = None,
    seed: int = 3,
    settle_timeout: float = 60,
    say: Any = print,
) -> DrillReport:
    """Publish ``notices`` at ``rate``/s while kill -9'ing the worker ``kills`` times at random
    moments (restarting it each time) and, if given, restarting the broker once midway; then
    check that every notice has exactly one decision per recipient and every delivery is on
    its topic exactly once (read committed), with nothing missing."""
    rng = random.Random(seed)  # noqa: S311 - reproducible chaos, not secrets
    report = DrillReport(kills=kills, recipients=len(load_policy(settings.policy_dir).recipients))
    docs = list(synthetic_notices(notices, seed=seed))
    messages = [encode(d, settings) for d in docs]
    duration = notices / rate
    kill_at = sorted(rng.uniform(0.05, 1.0) * duration for _ in range(kills))
    restart_at = duration * 0.5 if restart_broker else None
    started = time.monotonic()

    async def publish() -> None:
        # one producer per sender class in the stream, each with its own principal
        producers = {
            sender: AIOKafkaProducer(
                bootstrap_servers=settings.bootstrap,
                acks="all",
                **settings.kafka.options(Principals.publisher(sender)),
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
            report.published = len(futures)
        finally:
            for producer in started_producers:
                await producer.stop()

    async def chaos() -> None:
        events = [(t, "kill") for t in kill_at]
        if restart_at is not None:
            events.append((restart_at, "broker"))
        for at, what in sorted(events):
            await asyncio.sleep(max(0.0, started + at - time.monotonic()))
            if what == "kill":
                await asyncio.to_thread(worker.kill)
                say(f"  {time.monotonic() - started:6.1f} s  kill -9 worker; restarting")
                await asyncio.to_thread(worker.start)
            else:
                say(f"  {time.monotonic() - started:6.1f} s  restarting the Kafka broker")
                await asyncio.to_thread(restart_broker)
                report.broker_restarts += 1

    await asyncio.gather(publish(), chaos())
    say(f"  {time.monotonic() - started:6.1f} s  published {report.published}; settling")
    await _tally(settings, report, settle_timeout)
    report.seconds = time.monotonic() - started
    return report


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
        audit = await _read_all(settings, [settings.topics.audit], "read_committed")
        decisions = [json.loads(r.value) for r in audit]
        decisions = [d for d in decisions if d.get("event") == "decision"]
        if len(decisions) > seen:
            last_progress, seen = time.monotonic(), len(decisions)
        if len(decisions) >= expected or time.monotonic() - last_progress > settle_timeout:
            break
        await asyncio.sleep(2)
    counts: dict[tuple[str, str], int] = {}
    for d in decisions:
        k = (d["notice_id"], d["recipient"])
        counts[k] = counts.get(k, 0) + 1
    report.decisions = len(decisions)
    report.duplicate_decisions = sum(c - 1 for c in counts.values() if c > 1)
    report.missing_decisions = expected - len(counts)
    report.dead_lettered = sum(1 for r in audit if b'"dead-letter"' in r.value)
    report.audited_deliveries = len({d["delivery_id"] for d in decisions if d.get("delivery_id")})
    policy = load_policy(settings.policy_dir)
    topics = [settings.topics.delivery(r.topic) for r in policy.recipients.values()]
    deliveries = await _read_all(settings, topics, "read_committed")
    ids = [dict(r.headers)["ce_id"] for r in deliveries]
    report.deliveries = len(ids)
    report.duplicate_deliveries = len(ids) - len(set(ids))
    raw = await _read_all(settings, [settings.topics.audit], "read_uncommitted")
    report.aborted_records_seen_uncommitted = len(raw) - len(audit)
    # seal what the drill wrote, then verify the whole log against the checkpoints
    sealed = await asyncio.to_thread(broker_command, settings, "audit", "seal", "--once")
    verified = await asyncio.to_thread(broker_command, settings, "audit", "verify")
    report.audit_log_verifies = sealed.returncode == 0 and verified.returncode == 0
