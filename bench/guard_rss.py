"""A long run of the worker: its memory and its replay guard stay bounded (prints a table).

    .venv/bin/python bench/guard_rss.py [--rate 50] [--minutes 10] [--max-age-hours 0.01]

Starts a Kafka of its own (plaintext), a worker whose notices go stale after ``--max-age-hours``
(so that replay-guard entries expire within the run: an entry is kept for the notice window
plus the 5-minute clock skew, and the worker prunes every minute), publishes signed, sealed
notices at ``--rate`` for ``--minutes``, and samples the worker's resident memory and the
guard's size (the ``broker_replay_guard_entries`` metric) every 30 s. Without pruning the guard
would hold every notice accepted; the last column says how many that is.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from rich.console import Console
from rich.table import Table

from broker.adapters.kafka.clients import producer
from broker.adapters.kafka.local import free_ports
from broker.adapters.settings import Settings
from broker.services.local import WorkerProcess, create_topics
from broker.testing.processes import encode, fresh_settings, synthetic_notices

ROOT = Path(__file__).resolve().parent.parent  # the checkout: deploy/kafka.sh, policies/
console = Console()
SAMPLE_EVERY = 30.0


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _guard(metrics_port: int) -> str:
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("broker_replay_guard_entries "):
                return f"{float(line.split()[1]):,.0f}"
    return "-"


async def _run(
    settings: Settings, worker: WorkerProcess, rate: float, seconds: float, metrics_port: int
) -> list[tuple[float, float, str, int]]:
    assert worker.process is not None
    pid = worker.process.pid
    samples: list[tuple[float, float, str, int]] = []
    docs = synthetic_notices(int(rate * seconds) + 1, seed=5)
    sent = 0
    start = time.monotonic()
    next_sample = start
    async with producer(settings.bootstrap, options={"security_protocol": "PLAINTEXT"}) as p:
        while (now := time.monotonic()) - start < seconds:
            if now >= next_sample:
                samples.append((now - start, _rss_mib(pid), _guard(metrics_port), sent))
                console.print(
                    f"  {now - start:5.0f} s  RSS {samples[-1][1]:6.1f} MiB  "
                    f"guard {samples[-1][2]:>7}  published {sent:,}"
                )
                next_sample += SAMPLE_EVERY
            due = int((now - start) * rate) - sent
            for _ in range(max(0, due)):
                m = encode(next(docs), settings)  # signed now: the window is short
                await p.send(m.topic, m.value, key=m.key, headers=list(m.headers))
                sent += 1
            await asyncio.sleep(0.02)
        await p.flush()
    await asyncio.sleep(5)
    samples.append((time.monotonic() - start, _rss_mib(pid), _guard(metrics_port), sent))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=50.0, help="notices/s")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument(
        "--max-age-hours",
        type=float,
        default=0.01,
        help="the notice window (48 in production): short, so entries expire",
    )
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="bench-guard-"))
    port, metrics_port = free_ports(), free_ports()
    kafka_env = {
        **os.environ,
        "KAFKA_PORT": str(port),
        "KAFKA_DATA_DIR": str(state / "kafka"),
        "KAFKA_PROFILE": "plaintext",
    }
    kafka_sh = ["bash", str(ROOT / "deploy" / "kafka.sh")]
    console.print(f"starting a Kafka of its own (plaintext profile) on 127.0.0.1:{port}")
    subprocess.run([*kafka_sh, "start"], env=kafka_env, check=True, stdout=subprocess.DEVNULL)
    worker = None
    try:
        base = dataclasses.replace(
            Settings.from_env(), bootstrap=f"127.0.0.1:{port}", state_dir=state
        )
        settings = fresh_settings(base, tag="guard")
        create_topics(settings)
        worker = WorkerProcess(
            settings,
            state / "worker.log",
            env_extra={
                "BROKER_KAFKA_PROFILE": "plaintext",
                "BROKER_METRICS_PORT": str(metrics_port),
                "BROKER_NOTICE_MAX_AGE_HOURS": str(args.max_age_hours),
            },
        )
        worker.start()
        console.print(f"publishing {args.rate:g} notices/s for {args.minutes:g} min")
        samples = asyncio.run(_run(settings, worker, args.rate, args.minutes * 60, metrics_port))
        log = worker.log()
    finally:
        if worker is not None:
            worker.stop()
        subprocess.run([*kafka_sh, "stop"], env=kafka_env, check=False, stdout=subprocess.DEVNULL)
    window = args.max_age_hours * 3600 + 300
    table = Table(
        "elapsed",
        "worker RSS",
        "guard entries",
        "accepted so far (unpruned guard)",
        title=f"bench/guard_rss.py: {args.rate:g}/s, entries kept {window:.0f} s",
    )
    for elapsed, rss, guard, sent in samples:
        table.add_row(f"{elapsed:.0f} s", f"{rss:.1f} MiB", guard, f"{sent:,}")
    console.print(table)
    console.print(
        f"prunes logged: {log.count('worker.replay_guard_pruned')}; "
        f"dead letters logged: {log.count('notice.dead_lettered')}"
    )
    shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
