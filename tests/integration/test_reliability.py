"""Bad input through the real worker, a worker that starts before Kafka, a clean SIGTERM, and
the metrics endpoint."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import subprocess
import time
import urllib.request
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from broker.adapters.kafka.clients import client_options, consume, producer, send_all
from broker.adapters.kafka.local import free_ports
from broker.adapters.kafka.tls.contexts import KafkaSecurity, Profile
from broker.adapters.policy_files import load_policy
from broker.adapters.publisher import notice_message, sealed_for_broker
from broker.adapters.settings import Settings
from broker.adapters.stores import keyfiles
from broker.core.crypto import signing
from broker.core.crypto.registry import KeyKind
from broker.core.deployment.topics import SINGLE_NODE
from broker.core.envelope import binary_headers
from broker.core.notices import NOTICE_MODELS
from broker.core.pipeline import AUDIT_TYPE, OutMessage
from broker.services.local import WorkerProcess, create_topics
from broker.testing.processes import fresh_settings
from tests.conftest import ROOT, example
from tests.integration.conftest import Stack

pytestmark = pytest.mark.integration
UNIT = "oslo-pd-ost"


def _signed(s: Settings, value: bytes, notice_type: str, notice_id: str) -> OutMessage:
    """Signed by a registered police unit, so that what fails is the input itself."""
    paths = s.key_paths()
    registry = keyfiles.load_registry(paths.registry)
    signer = keyfiles.signing_key(paths, registry, KeyKind.publisher, UNIT)
    event_type = f"no.oslo.broker.{notice_type}"
    if ".v" not in notice_type:
        event_type += ".v1"
    headers = binary_headers(event_type, f"/police/{UNIT}", notice_id, datetime.now(UTC))
    signed = OutMessage(s.topics.notices, None, value, signing.sign(headers, value, signer))
    return sealed_for_broker(signed, s)


def _bad_inputs(s: Settings) -> dict[str, OutMessage]:
    """One malformed input per kind, keyed by the dead-letter code it must get."""
    now = datetime.now(UTC)

    def doc(**changes: Any) -> dict[str, Any]:
        d = example("threat", now)
        d["notice_id"] = str(uuid.uuid4())
        d.update(changes)
        return d

    wrong_type = doc()
    wrong_type["risk"]["level"] = 5
    missing = doc()
    del missing["child"]
    checksum = doc()
    nid = checksum["child"]["national_id"]
    checksum["child"]["national_id"] = nid[:-1] + str((int(nid[-1]) + 1) % 10)
    future = doc(issued_at=(now + timedelta(days=1)).isoformat())

    def msg(d: dict[str, Any], kind: str = "risk-notice") -> OutMessage:
        return _signed(s, json.dumps(d).encode(), kind, d["notice_id"])

    return {
        "not-json": _signed(s, b"{not json", "risk-notice", str(uuid.uuid4())),
        "invalid-notice:type": msg(wrong_type),
        "invalid-notice:missing": msg(missing),
        "invalid-notice:checksum": msg(checksum),
        "unknown-type": msg(doc(), "gossip-notice"),
        "unknown-type:version": msg(doc(), "risk-notice.v9"),
        "too-large": _signed(
            s, b'{"pad": "' + b"x" * 300_000 + b'"}', "risk-notice", str(uuid.uuid4())
        ),
        "not-utf8": _signed(s, b'{"notice_id": "\xff\xfe"}', "risk-notice", str(uuid.uuid4())),
        "future-timestamp": msg(future),
    }


async def _end_offsets(s: Settings, topic: str) -> dict[int, int]:
    from aiokafka import AIOKafkaConsumer, TopicPartition  # noqa: PLC0415

    consumer = AIOKafkaConsumer(bootstrap_servers=s.bootstrap, **client_options())
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(3)]
        return {tp.partition: o for tp, o in (await consumer.end_offsets(tps)).items()}
    finally:
        await consumer.stop()


def test_every_kind_of_bad_input_is_dead_lettered_and_the_worker_goes_on(stack: Stack) -> None:
    """Not JSON, wrong types, missing fields, bad checksums, unknown types and versions,
    oversized, invalid UTF-8, far-future timestamps and a duplicate notice id: each is
    dead-lettered with its own reason and audited; a valid notice after them is still decided;
    published = decided + dead-lettered."""
    s = stack.settings
    bad = _bad_inputs(s)
    valid = example("robbery", datetime.now(UTC))
    valid["notice_id"] = str(uuid.uuid4())
    model = NOTICE_MODELS[("incident", 1)]
    good = notice_message(model.model_validate(valid), s)
    messages = [*bad.values(), good, good]  # the last one: the same notice id again

    async def go() -> list[dict[str, Any]]:
        # only what this test publishes: inputs past the notices topic's current end
        start = await _end_offsets(s, s.topics.notices)
        async with producer(s.bootstrap) as p:
            await send_all(p, messages)
        out: list[dict[str, Any]] = []
        async for r in consume(s.bootstrap, [s.topics.audit], idle_timeout=60):
            if dict(r.headers).get("ce_type") != AUDIT_TYPE.encode():
                continue
            data = json.loads(r.value)
            _, partition, offset = data["source"].rsplit("/", 2)
            if int(offset) >= start.get(int(partition), 0):
                out.append(data)
            if len({d["source"] for d in out}) >= len(messages):
                break
        return out

    audit = asyncio.run(go())
    dead = [d for d in audit if d["event"] == "dead-letter"]
    codes = sorted(d["reasons"][0].split(":")[0] for d in dead)
    expected = sorted([k.split(":")[0] for k in bad] + ["notice-replayed"])
    assert codes == expected
    decided = {d["notice_id"] for d in audit if d["event"] == "decision"}
    assert decided == {valid["notice_id"]}
    assert stack.worker.process is not None
    assert stack.worker.process.poll() is None


def _own_plaintext_kafka(tmp_path: Path, tag: str) -> tuple[dict[str, str], Settings]:
    """The environment for deploy/kafka.sh to run a plaintext Kafka of the test's own on a
    free port, and settings that point a worker at it."""
    port = free_ports()
    env = {
        **os.environ,
        "KAFKA_PORT": str(port),
        "KAFKA_DATA_DIR": str(tmp_path / "k"),
        "KAFKA_PROFILE": "plaintext",
    }
    base = dataclasses.replace(
        Settings.from_env(),
        bootstrap=f"127.0.0.1:{port}",
        state_dir=tmp_path / "state",
        kafka=KafkaSecurity(Profile.plaintext, tmp_path / "credentials"),
        replication=SINGLE_NODE,  # one node of its own, whether or not the session's is a cluster
    )
    return env, fresh_settings(base, tag=tag)


def test_worker_waits_for_kafka_then_works_and_stops_cleanly(tmp_path: Path) -> None:
    """Started before Kafka exists, the worker warns and waits; once Kafka is up it decides
    notices and serves metrics on 127.0.0.1; SIGTERM stops it cleanly (exit 0)."""
    metrics_port = free_ports()
    shutil_env, s = _own_plaintext_kafka(tmp_path, "avail")
    worker = WorkerProcess(
        s,
        tmp_path / "worker.log",
        env_extra={"BROKER_KAFKA_PROFILE": "plaintext", "BROKER_METRICS_PORT": str(metrics_port)},
    )
    worker.start(wait_ready=False)
    try:
        deadline = time.monotonic() + 30
        while "kafka.waiting" not in worker.log():
            assert time.monotonic() < deadline, worker.log()[-2000:]
            assert worker.process is not None
            assert worker.process.poll() is None
            time.sleep(0.2)
        started = subprocess.run(
            ["bash", str(ROOT / "deploy" / "kafka.sh"), "start"],
            env=shutil_env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert started.returncode == 0, started.stderr
        create_topics(s)
        deadline = time.monotonic() + 90
        while "worker.ready" not in worker.log():
            assert time.monotonic() < deadline, worker.log()[-3000:]
            time.sleep(0.2)
        doc = example("threat", datetime.now(UTC))
        doc["notice_id"] = str(uuid.uuid4())
        message = notice_message(NOTICE_MODELS[("risk", 1)].model_validate(doc), s)

        async def publish() -> None:
            async with producer(s.bootstrap, options={"security_protocol": "PLAINTEXT"}) as p:
                await send_all(p, [message])

        asyncio.run(publish())
        deadline = time.monotonic() + 60
        while "notice.decided" not in worker.log():
            assert time.monotonic() < deadline, worker.log()[-3000:]
            time.sleep(0.2)
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
        assert 'broker_decisions_total{outcome="deliver",recipient="school"} 1.0' in text
        assert "broker_notices_received_total 1.0" in text
        assert worker.stop() == 0
        assert "worker.stopped" in worker.log()
    finally:
        worker.stop()
        subprocess.run(
            ["bash", str(ROOT / "deploy" / "kafka.sh"), "stop"],
            env=shutil_env,
            capture_output=True,
            check=False,
        )


def test_sigterm_stops_the_worker_within_10_s_while_kafka_is_away(tmp_path: Path) -> None:
    """With Kafka gone mid-stream (the worker's clients retrying), SIGTERM still ends the
    worker within 10 s; once Kafka and a worker are back, every notice is decided exactly once
    per recipient (Faust committed no offset of its own past an undecided input)."""
    env, s = _own_plaintext_kafka(tmp_path, "term")
    kafka_sh = ["bash", str(ROOT / "deploy" / "kafka.sh")]
    assert (
        subprocess.run([*kafka_sh, "start"], env=env, capture_output=True, check=False).returncode
        == 0
    )
    worker = WorkerProcess(
        s, tmp_path / "worker.log", env_extra={"BROKER_KAFKA_PROFILE": "plaintext"}
    )
    try:
        create_topics(s)
        worker.start()
        docs = []
        for _ in range(300):
            doc = example("threat")
            doc["notice_id"] = str(uuid.uuid4())
            docs.append(doc)
        messages = [notice_message(NOTICE_MODELS[("risk", 1)].model_validate(d), s) for d in docs]

        async def publish() -> None:
            async with producer(s.bootstrap, options={"security_protocol": "PLAINTEXT"}) as p:
                await send_all(p, messages)

        asyncio.run(publish())
        subprocess.run([*kafka_sh, "stop"], env=env, capture_output=True, check=False)
        deadline = time.monotonic() + 60
        while not any(m in worker.log() for m in ("retry", "Unable connect", "Unable to update")):
            assert time.monotonic() < deadline, worker.log()[-2000:]  # it noticed Kafka is gone
            time.sleep(0.2)
        time.sleep(2)  # well inside the retry loops
        assert worker.process is not None
        assert worker.process.poll() is None
        started = time.monotonic()
        worker.process.send_signal(signal.SIGTERM)
        worker.process.wait(timeout=30)
        took = time.monotonic() - started
        assert took < 10, f"SIGTERM took {took:.1f} s"

        # Kafka and a worker come back: every notice is decided, once per recipient
        restarted = subprocess.run([*kafka_sh, "start"], env=env, capture_output=True, check=False)
        assert restarted.returncode == 0
        worker.start()
        recipients = len(load_policy(s.policy_dir).recipients)
        decisions = asyncio.run(_decisions(s, {d["notice_id"] for d in docs}, recipients))
    finally:
        worker.stop()
        subprocess.run([*kafka_sh, "stop"], env=env, capture_output=True, check=False)
    counts = Counter(nid for nid, _ in decisions)
    assert sorted(set(counts)) == sorted(d["notice_id"] for d in docs)  # none lost
    assert set(counts.values()) == {recipients}  # none twice
    assert len(set(decisions)) == len(decisions)


async def _decisions(
    s: Settings, ids: set[str], per_notice: int, timeout: float = 120
) -> list[tuple[str, str]]:
    """(notice id, recipient) of every committed decision, once each of ``ids`` has
    ``per_notice`` of them (or after ``timeout``, or 20 s without a record)."""
    out: list[tuple[str, str]] = []
    deadline = time.monotonic() + timeout
    options = {"security_protocol": "PLAINTEXT"}
    async for r in consume(s.bootstrap, [s.topics.audit], idle_timeout=20, options=options):
        data = json.loads(r.value)
        if data.get("event") == "decision":
            out.append((data["notice_id"], data["recipient"]))
        counts = Counter(nid for nid, _ in out)
        if all(counts[i] >= per_notice for i in ids) or time.monotonic() > deadline:
            break
    return out
