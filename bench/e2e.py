"""End-to-end benchmark of the worker on a Kafka of its own (prints tables; asserts nothing).

    .venv/bin/python bench/e2e.py [--notices 6000] [--rate 50] [--seconds 20]
                                  [--profile plaintext|secure] [--workers 1,2] [--settle S]

Every figure comes with its baseline from the same run, and the machine with a crypto
calibration measured at start (these machines are shared: compare ratios, not absolutes).

1. throughput: N notices wait on the notices topic; W workers (each count in --workers, fresh
   topics each) start and drain them: one decision per recipient, deliveries, audit records and
   offsets in Kafka transactions. Messages out = audit records + deliveries.
   Baseline: a plain aiokafka consume → produce of the same N messages on the same broker in a
   process of its own (at least once, no transactions), the pass-through ceiling.
2. latency at --rate notices/s for --seconds, after WARMUP seconds at that rate left out (the
   first notices after a start set up each partition's producer): publish → committed audit
   record (read committed: visible to auditors and subscribers at the same moment as the
   deliveries), p50 and p99.
   Baseline: the same publisher and the same measuring consumer on the notices topic alone
   (publish → readable), the floor of what this measuring can see.
3. the worker's peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import NewTopic
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kit

from broker.adapters.kafka.clients import (
    Connection,
    new_admin,
    new_consumer,
    new_producer,
)
from broker.adapters.policy_files import load_policy
from broker.adapters.settings import Settings
from broker.services.local import WorkerProcess
from broker.testing.processes import encode, synthetic_notices

console = Console()
WARMUP = 2  # seconds of notices published before the latency measured


async def _passthrough(conn: Connection, source: str, target: str, n: int) -> None:
    consumer = new_consumer(
        conn,
        source,
        group_id=f"{target}-g",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    out = new_producer(
        conn, acks="all", linger_ms=2, enable_idempotence=True, max_batch_size=256 * 1024
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
    parser.add_argument("--notices", type=int, default=6000)
    parser.add_argument("--rate", type=int, default=50, help="notices/s for the latency run")
    parser.add_argument("--seconds", type=int, default=20, help="length of the latency run")
    parser.add_argument("--profile", choices=["plaintext", "secure"], default="plaintext")
    parser.add_argument("--workers", default="1", help="worker counts to drain with, e.g. 1,2")
    parser.add_argument(
        "--settle",
        type=float,
        default=0,
        help="seconds to wait between the drains and the latency run (a loaded machine's tail)",
    )
    parser.add_argument("--passthrough", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.passthrough:
        _, src, dst, n = args.passthrough
        asyncio.run(_passthrough(Connection.of(Settings.from_env(), kit.ADMIN), src, dst, int(n)))
        return
    console.print(kit.machine_table(kit.calibrate(), f"bench/e2e.py, {args.profile} profile"))
    with kit.own_kafka(args.profile, console.print) as bench:
        _run(args, bench)
    console.print(f"load average at the end: {kit.machine()['load average (1, 5, 15 min)']}")


def _run(args: argparse.Namespace, bench: kit.Bench) -> None:
    n = args.notices
    conn = bench.connection()
    recipients = len(load_policy(bench.base.policy_dir).recipients)
    docs = list(synthetic_notices(n, seed=7))
    drains: dict[int, tuple[float, int]] = {}
    first = None
    for workers in [int(w) for w in args.workers.split(",")]:
        settings = bench.fresh(f"bench{workers}")
        first = first or settings
        console.print(f"{n} notices × {recipients} recipients, {workers} worker(s)")
        kit.run(kit.publish(conn, [encode(d, settings) for d in docs]))
        drains[workers] = _drain(bench, settings, workers, n * recipients)
    assert first is not None
    base_rate = _baseline(conn, first, n)
    if args.settle:
        console.print(f"the machine settles for {args.settle:.0f} s before the latency run")
        time.sleep(args.settle)
    latency, rss, machine = _latency_run(bench, args.rate, args.seconds)
    floor = _floor_latency(bench, args.rate, args.seconds)
    _show(args, n, drains, base_rate, (latency, machine), floor, rss)


def _drain(bench: kit.Bench, settings: Settings, workers: int, expected: int) -> tuple[float, int]:
    """Seconds for ``workers`` workers to drain the backlog, and the messages they wrote."""
    logs = [bench.work / f"{settings.app_id}-{w}.log" for w in range(workers)]
    procs = [WorkerProcess(settings, log) for log in logs]
    with Progress(console=console) as progress:
        for p in procs:
            p.start()
        t0 = time.time()
        audit = kit.run(
            kit.count(
                bench.connection(),
                settings.topics.audit,
                expected,
                progress=progress,
                label=f"{workers} worker(s) drain the backlog",
            )
        )
    for p in procs:
        p.stop()
    seconds = max(r.timestamp / 1000 for _, r in audit) - t0
    delivered = sum(1 for _, r in audit if b'"outcome":"deliver"' in r.value)
    return seconds, len(audit) + delivered


def _baseline(conn: Connection, settings: Settings, n: int) -> float:
    """The pass-through rate (messages/s) of the first run's notices, in a process of its own."""
    target = f"{settings.topic_prefix}passthrough"
    kit.run(_create(conn, target))
    result = subprocess.run(
        [sys.executable, __file__, "--passthrough", "-", settings.topics.notices, target, str(n)],
        capture_output=True,
        text=True,
        check=True,
    )
    base = json.loads(result.stdout.strip().splitlines()[-1])
    return float(base["messages"] / base["seconds"])


async def _create(conn: Connection, topic: str) -> None:
    admin = new_admin(conn)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 3, 1)])
    finally:
        await admin.close()


def _latency_run(
    bench: kit.Bench, rate: int, seconds: int
) -> tuple[list[Sample], float | None, kit.Sampler]:
    """The worker's latency, with what the worker, Kafka's JVM and the disk did meanwhile."""
    settings = bench.fresh("latency")
    worker = WorkerProcess(settings, bench.work / "latency-worker.log")
    worker.start()
    assert worker.process is not None
    pids = {"worker": [worker.process.pid], "Kafka": kit.pids_running(str(bench.work / "kafka"))}
    try:
        audit = settings.topics.audit
        with kit.Sampler(pids) as sampler:
            found = kit.run(_latency(bench.connection(), settings, audit, rate, seconds))
        return found, worker.peak_rss_mib(), sampler
    finally:
        worker.stop()


def _floor_latency(bench: kit.Bench, rate: int, seconds: int) -> list[Sample]:
    settings = bench.fresh("floor")
    return list(
        kit.run(_latency(bench.connection(), settings, settings.topics.notices, rate, seconds))
    )


async def _latency(
    conn: Connection, settings: Settings, watched: str, rate: int, seconds: int
) -> list[Sample]:
    """Milliseconds from publishing each notice to its first record on ``watched`` (read
    committed), at ``rate`` notices/s. On the notices topic itself the record is the notice
    (its ce_id header); on the audit topic an audit record naming it."""
    warm = rate * WARMUP  # the first notices after a start, left out: each partition's
    n = rate * seconds + warm  # transactional producer, claims and coordinators are set up then
    docs = list(synthetic_notices(n, seed=99))
    messages = [encode(d, settings) for d in docs]
    # its own wait short: a committed record is readable a few ms after its commit, and a
    # fetch parked for aiokafka's default 500 ms measured itself (bench/breakdown.py's probe)
    consumer: AIOKafkaConsumer = new_consumer(
        conn,
        watched,
        auto_offset_reset="latest",
        isolation_level="read_committed",
        fetch_max_wait_ms=10,
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
                    nid = _notice_id(r)
                    if nid and nid not in seen:
                        seen[nid] = now

    reader = asyncio.create_task(read())
    times = await kit.publish_paced(conn, messages, rate)
    sent = {doc["notice_id"]: at for doc, at in zip(docs, times, strict=True)}
    try:
        await asyncio.wait_for(reader, timeout=60)
    except TimeoutError:
        console.print(f"[yellow]{n - len(seen)} of {n} not seen within 60 s[/]")
    finally:
        await consumer.stop()
    measured = [d["notice_id"] for d in docs[warm:]]
    t0 = min(sent[k] for k in measured)
    return [
        Sample(sent[k] - t0, (seen[k] - sent[k]) * 1000, sent[k]) for k in measured if k in seen
    ]


@dataclass(frozen=True)
class Sample:
    """One notice: when it was published (seconds into the measured run), and its latency."""

    at: float
    ms: float
    sent: float  # time.time() when published: where the machine's samples line up


def _over_time(
    latency: list[Sample], seconds: int, title: str, machine: kit.Sampler | None = None
) -> Table:
    """Latency per stretch of the run, with a bar of its worst: a stall shows where it was
    (at the start: the worker still settling; throughout: the steady state). With
    ``machine``: the worker's and Kafka's CPU (1.0 = a core) and the most page cache not yet
    on disk in each stretch, to tell the worker's own time from a busy machine."""
    extra = ["worker CPU", "Kafka CPU", "dirty MiB"] if machine else []
    t = Table("seconds", "notices", "p50", "max", *extra, "", title=title)
    step = max(1, seconds // 10)
    worst = max((s.ms for s in latency), default=1.0) or 1.0
    t0 = min((s.sent - s.at for s in latency), default=0.0)
    for start in range(0, seconds, step):
        part = [s.ms for s in latency if start <= s.at < start + step]
        if not part:
            continue
        top = max(part)
        cells = []
        if machine:
            cpu, dirty = machine.usage(t0 + start, t0 + start + step)
            cells = [f"{cpu['worker']:.2f}", f"{cpu['Kafka']:.2f}", f"{dirty:.0f}"]
        t.add_row(
            f"{start}–{start + step}",
            str(len(part)),
            f"{statistics.median(part):.1f} ms",
            f"{top:.1f} ms",
            *cells,
            "█" * max(1, round(30 * top / worst)),
        )
    return t


def _notice_id(record: Any) -> str | None:
    headers = dict(record.headers or ())
    if b'"notice_id"' in record.value:
        return str(json.loads(record.value).get("notice_id"))
    ce_id = headers.get("ce_id")
    return ce_id.decode() if ce_id else None


def _show(  # noqa: PLR0917 - one table from the run's figures
    args: argparse.Namespace,
    n: int,
    drains: dict[int, tuple[float, int]],
    base_rate: float,
    measured: tuple[list[Sample], kit.Sampler],
    floor: list[Sample],
    rss: float | None,
) -> None:
    latency, machine = measured
    t = Table("measure", "worker", "baseline (same run)", "ratio", "target", title="bench/e2e.py")
    one = drains.get(1) or next(iter(drains.values()))
    for workers, (seconds, out) in drains.items():
        t.add_row(
            f"{workers} worker(s): notices/s",
            f"{n / seconds:,.0f}",
            f"1 worker: {n / one[0]:,.0f}" if workers != 1 else "",
            f"{one[0] / seconds:.2f}×" if workers != 1 else "",
            "",
        )
        t.add_row(
            f"{workers} worker(s): messages out/s",
            f"{out / seconds:,.0f}",
            f"pass-through {base_rate:,.0f}/s",
            f"{out / seconds / base_rate:.0%}",
            "≥ 50 %",
        )
    t.add_row("messages out per notice", f"{one[1] / n:.2f}", "1", "", "")
    for p in (50, 99):
        w, f = _pct(latency, p), _pct(floor, p)
        t.add_row(
            f"latency p{p} at {args.rate}/s",
            f"{w:.1f} ms",
            f"publish → readable {f:.1f} ms",
            f"{w / f:.1f}×" if f else "",
            "p99 ≤ 50 ms" if p == 99 else "",
        )
    t.add_row("latency samples", str(len(latency)), str(len(floor)), "", "")
    t.add_row("worker peak RSS", f"{rss:.0f} MiB" if rss else "?", "", "", "")
    title = f"worker latency over time, {args.rate}/s"
    console.print(_over_time(latency, args.seconds, title, machine))
    console.print(_over_time(floor, args.seconds, "publish → readable over time"))
    console.print(t)


def _pct(samples: list[Sample], p: int) -> float:
    if len(samples) < 2:
        return float("nan")
    return statistics.quantiles([s.ms for s in samples], n=100)[p - 1]


if __name__ == "__main__":
    main()
