"""End-to-end benchmark of the worker on the real local Kafka (prints a table; not a test).

    .venv/bin/python bench/e2e.py [--notices 20000] [--rate 500] [--seconds 10]

1. throughput: N notices wait on the notices topic; a worker starts and drains them (one
   decision per recipient, deliveries + audit records + offsets in Kafka transactions);
2. baseline: a plain aiokafka consume → produce of the same messages on the same broker, in
   its own process (at least once, no transactions), the pass-through ceiling;
3. latency: notices published at a steady rate; publish → committed audit record (read
   committed: visible to auditors and subscribers at the same moment as the deliveries);
4. peak RSS of the worker.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from broker.adapters.kafka.clients import producer, send_all
from broker.adapters.kafka.local import free_ports
from broker.adapters.policy_files import load_policy
from broker.adapters.settings import Settings
from broker.services.local import WorkerProcess, create_topics
from broker.testing.processes import encode, fresh_settings, synthetic_notices

ROOT = Path(__file__).resolve().parent.parent  # the checkout: deploy/kafka.sh, policies/
console = Console()


async def _count(
    bootstrap: str,
    topic: str,
    expected: int,
    *,
    progress: Progress,
    label: str,
    timeout: float = 600,
) -> list[Any]:
    """Read ``topic`` (read committed) until ``expected`` records have arrived."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    await consumer.start()
    task = progress.add_task(label, total=expected)
    records: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(records) < expected and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200, max_records=10000)
            now = time.time()
            for recs in batch.values():
                records += [(now, r) for r in recs]
            progress.update(task, completed=len(records))
    finally:
        await consumer.stop()
    return records


async def _passthrough(bootstrap: str, source: str, target: str, n: int) -> None:
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=bootstrap,
        group_id=f"{target}-g",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    out = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=2,
        enable_idempotence=True,
        max_batch_size=256 * 1024,
    )
    await consumer.start()
    await out.start()
    done, t0 = 0, None
    try:
        while done < n:
            batch = await consumer.getmany(timeout_ms=200, max_records=500)
            if not batch:
                continue
            t0 = t0 or time.monotonic()
            futures = [
                await out.send(target, r.value, key=r.key, headers=list(r.headers))
                for recs in batch.values()
                for r in recs
            ]
            await asyncio.gather(*futures)
            await consumer.commit()
            done += len(futures)
        print(json.dumps({"messages": done, "seconds": time.monotonic() - (t0 or 0)}))
    finally:
        await consumer.stop()
        await out.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--notices", type=int, default=20000)
    parser.add_argument("--rate", type=int, default=500, help="notices/s for the latency run")
    parser.add_argument("--seconds", type=int, default=10, help="length of the latency run")
    parser.add_argument("--passthrough", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.passthrough:
        b, src, dst, n = args.passthrough
        asyncio.run(_passthrough(b, src, dst, int(n)))
        return

    state = Path(tempfile.mkdtemp(prefix="bench-"))
    port = free_ports()
    kafka_env = {**os.environ, "KAFKA_PORT": str(port), "KAFKA_DATA_DIR": str(state / "kafka")}
    console.print(f"starting a Kafka of its own (plaintext profile) on 127.0.0.1:{port}")
    subprocess.run(
        ["bash", str(ROOT / "deploy" / "kafka.sh"), "start"],
        env=kafka_env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    try:
        _run(args, state, port)
    finally:
        subprocess.run(
            ["bash", str(ROOT / "deploy" / "kafka.sh"), "stop"],
            env=kafka_env,
            check=False,
            stdout=subprocess.DEVNULL,
        )
        shutil.rmtree(state, ignore_errors=True)


def _run(args: argparse.Namespace, state: Path, port: int) -> None:
    base = dataclasses.replace(
        Settings.from_env(),
        bootstrap=f"127.0.0.1:{port}",
        state_dir=state,
        policies=state / "policies",
    )
    shutil.copytree(ROOT / "policies", state / "policies")
    settings = fresh_settings(base, tag="bench")
    create_topics(settings)
    recipients = len(load_policy(settings.policy_dir).recipients)
    n = args.notices
    console.print(f"preparing {n} notices × {recipients} recipients on '{settings.topic_prefix}'")
    messages = [encode(d, settings) for d in synthetic_notices(n, seed=7)]
    asyncio.run(_publish(settings.bootstrap, messages))

    worker = WorkerProcess(settings, state / "worker.log")
    with Progress(console=console) as progress:
        worker.start()
        t0 = time.time()
        audit = asyncio.run(
            _count(
                settings.bootstrap,
                settings.topics.audit,
                n * recipients,
                progress=progress,
                label="worker drains backlog",
            )
        )
    worker_s = max(r.timestamp / 1000 for _, r in audit) - t0
    delivered = sum(1 for _, r in audit if b'"outcome":"deliver"' in r.value)
    out_msgs = len(audit) + delivered

    passthrough_topic = f"{settings.topic_prefix}passthrough"
    asyncio.run(_create(settings.bootstrap, passthrough_topic))
    result = subprocess.run(
        [
            sys.executable,
            __file__,
            "--passthrough",
            settings.bootstrap,
            settings.topics.notices,
            passthrough_topic,
            str(n),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    base = json.loads(result.stdout.strip().splitlines()[-1])

    latencies = asyncio.run(_latency(settings, recipients, args.rate, args.seconds))
    rss = worker.peak_rss_mib()
    worker.stop()

    table = Table("measure", "worker", "pass-through", "ratio / target", title="bench/e2e.py")
    base_rate = base["messages"] / base["seconds"]
    table.add_row("notices/s", f"{n / worker_s:,.0f}", f"{base_rate:,.0f}", "target ≥ 3,000")
    table.add_row(
        "messages out/s",
        f"{out_msgs / worker_s:,.0f}",
        f"{base_rate:,.0f}",
        f"{out_msgs / worker_s / base_rate:.0%} (target ≥ 50 %)",
    )
    table.add_row("messages out per notice", f"{out_msgs / n:.1f}", "1", "")
    table.add_row(f"latency p50 at {args.rate}/s", f"{_pct(latencies, 50):.1f} ms", "", "")
    table.add_row(
        f"latency p99 at {args.rate}/s", f"{_pct(latencies, 99):.1f} ms", "", "target ≤ 50 ms"
    )
    table.add_row("latency samples", str(len(latencies)), "", "")
    table.add_row("worker peak RSS", f"{rss:.0f} MiB" if rss else "?", "", "")
    console.print(table)


async def _publish(bootstrap: str, messages: list[Any]) -> None:
    async with producer(bootstrap) as p:
        for i in range(0, len(messages), 2000):
            await send_all(p, messages[i : i + 2000])


async def _create(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 3, 1)])
    finally:
        await admin.close()


async def _latency(settings: Any, recipients: int, rate: int, seconds: int) -> list[float]:
    n = rate * seconds
    docs = list(synthetic_notices(n, seed=99))
    messages = [encode(d, settings) for d in docs]
    sent: dict[str, float] = {}
    consumer = AIOKafkaConsumer(
        settings.topics.audit,
        bootstrap_servers=settings.bootstrap,
        auto_offset_reset="latest",
        isolation_level="read_committed",
    )
    await consumer.start()
    await consumer.seek_to_end()
    seen: dict[str, float] = {}

    async def read() -> None:
        while len(seen) < n:
            batch = await consumer.getmany(timeout_ms=100)
            now = time.time()
            for recs in batch.values():
                for r in recs:
                    nid = json.loads(r.value).get("notice_id")
                    if nid and nid not in seen:
                        seen[nid] = now

    reader = asyncio.create_task(read())
    async with producer(settings.bootstrap) as p:
        start = time.monotonic()
        for i, (doc, m) in enumerate(zip(docs, messages, strict=True)):
            await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
            sent[doc["notice_id"]] = time.time()
            await p.send(m.topic, m.value, key=m.key, headers=list(m.headers))
    try:
        await asyncio.wait_for(reader, timeout=60)
    finally:
        await consumer.stop()
    return [(seen[k] - sent[k]) * 1000 for k in sent if k in seen]


def _pct(values: list[float], p: int) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100)[p - 1] if p < 100 else max(values)


if __name__ == "__main__":
    main()
