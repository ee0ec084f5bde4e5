"""Where a notice's time goes (issue #15). Prints tables; asserts nothing.

    .venv/bin/python bench/breakdown.py pipeline [--notices 1000]
    .venv/bin/python bench/breakdown.py worker [--notices 4000] [--profile plaintext|secure]
                                               [--rate R]

pipeline: the core alone, in process (no Kafka): by step and by kind of work
(bench/pipeline_steps.py).

worker: a real `broker worker` drains a backlog on a Kafka of its own while py-spy samples it
(every thread, idle included, 100 Hz, without stopping it); each sample is put into one part:
a pipeline step, the worker's shell (stages, commits), Faust, aiokafka, TLS, logging, the
event loop, or waiting. Beside it, the worker's own timings of each transaction step
(broker_transaction_step_seconds: sends queued, acknowledged, offsets added, committed), read
from its metrics endpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kit
import pipeline_steps

from broker.adapters.kafka.clients import Connection
from broker.adapters.kafka.local import free_ports
from broker.adapters.policy_files import load_policy
from broker.services.local import WorkerProcess
from broker.testing.processes import encode, synthetic_notices

console = Console()
RATE = 100  # py-spy samples per second

# a sample's pipeline step: the innermost frame of the stack that names one
PIPELINE_STEPS = [
    ("Pipeline._open", "open (HPKE unseal)"),
    ("NoticeVerifier.verify", "verify (Ed25519, replay)"),
    ("decode_notice", "decode (pydantic notice)"),
    ("Case.of", "case (facts)"),
    ("verdict (", "decide + redact"),
    ("Pipeline._seal", "seal deliveries (HPKE, sign)"),
    ("audit_record (", "audit record model"),
    ("Pipeline._audit_message", "audit message (JSON, sign)"),
    ("decision (", "decision + delivery models"),
]
# otherwise: the innermost frame whose file names a part
PARTS = [
    ("/ssl.py", "TLS (ssl)"),
    ("aiokafka/", "aiokafka (produce, fetch, protocol)"),
    ("faust/", "Faust (streams, agents, consumer)"),
    ("mode/", "Faust (streams, agents, consumer)"),
    ("structlog/", "logging"),
    ("logging/", "logging"),
    ("prometheus_client/", "metrics"),
    ("broker/", "worker shell (stages, commits)"),
    ("asyncio/", "asyncio event loop"),
]
IDLE = ("select", "poll", "epoll", "wait", "acquire", "sleep", "_wait_for_tstate_lock")


def classify(frames: list[str]) -> str:  # noqa: PLR0911 - one return per part
    """One py-spy stack (outermost first) → the part its time counts for."""
    if not frames:
        return "other"
    innermost = frames[-1].split(" (", 1)[0].rsplit(".", 1)[-1]
    if innermost in IDLE:
        return "waiting (idle)"
    if any("broker/adapters/stores/" in f for f in frames):
        return "data-key store (SQLite)"
    if any("broker/core/" in f for f in frames):
        for frame in reversed(frames):
            for marker, step in PIPELINE_STEPS:
                if marker in frame:
                    return f"pipeline: {step}"
        return "pipeline: other"
    for frame in reversed(frames):
        for marker, part in PARTS:
            if marker in frame:
                return part
    return "other"


def samples(path: Path) -> dict[str, Counter[str]]:
    """py-spy's raw output (``thread (tid): name;frame;…;frame count``) → per thread name, the
    samples of each part."""
    by_thread: dict[str, Counter[str]] = defaultdict(Counter)
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        head, *frames = stack.split(";")
        thread = re.sub(r"^thread \(\d+\): ", "", head) or "?"
        by_thread[thread][classify(frames)] += int(n)
    return by_thread


def transaction_steps(text: str) -> dict[tuple[str, str], tuple[float, float]]:
    """The worker's metrics: (stage, step) → (seconds in all, transactions)."""
    found: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for family in text_string_to_metric_families(text):
        if family.name != "broker_transaction_step_seconds":
            continue
        for s in family.samples:
            key = (s.labels["stage"], s.labels["step"])
            if s.name.endswith("_sum"):
                found[key][0] = s.value
            elif s.name.endswith("_count"):
                found[key][1] = s.value
    return {k: (v[0], v[1]) for k, v in found.items()}


def pipeline_report(n: int) -> None:
    spent, whole, delivered = pipeline_steps.by_step(n)
    t = Table(
        "step",
        "µs per notice",
        "share",
        title=f"the pipeline in process: {n} notices, {pipeline_steps.BATCH} to a batch",
    )
    for label, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
        t.add_row(label, f"{seconds / n * 1e6:,.0f}", f"{seconds / whole:.0%}")
    rest = whole - sum(spent.values())
    t.add_row("rest of process()", f"{rest / n * 1e6:,.0f}", f"{rest / whole:.0%}")
    t.add_row("[b]whole[/]", f"[b]{whole / n * 1e6:,.0f}[/]", "100%")
    t.add_row("deliveries per notice", f"{delivered / n:.2f}", "")
    # the baseline: a batch (and so a key encapsulation per delivery, nearly) per notice
    _, alone, _ = pipeline_steps.by_step(n, per_batch=1)
    t.add_row(
        "whole, a batch per notice (baseline)",
        f"{alone / n * 1e6:,.0f}",
        f"{whole / alone:.2f}×",
    )
    console.print(t)
    kinds, total = pipeline_steps.by_kind(n)
    t = Table("kind of work", "share of own time", title="the same, by kind (cProfile)")
    for label, seconds in sorted(kinds.items(), key=lambda kv: -kv[1]):
        t.add_row(label, f"{seconds / total:.0%}")
    console.print(t)


def worker_report(args: argparse.Namespace) -> None:
    console.print(kit.machine_table(kit.calibrate(), "bench/breakdown.py worker"))
    with kit.own_kafka(args.profile, console.print) as bench:
        settings = bench.fresh("profile")
        conn = bench.connection()
        recipients = len(load_policy(settings.policy_dir).recipients)
        n = args.notices
        messages = [encode(d, settings) for d in synthetic_notices(n, seed=11)]
        if not args.rate:
            console.print(f"publishing {n} notices (× {recipients} recipients)")
            kit.run(kit.publish(conn, messages))
        port = free_ports()
        worker = WorkerProcess(
            settings, bench.work / "worker.log", env_extra={"BROKER_METRICS_PORT": str(port)}
        )
        worker.start()
        assert worker.process is not None
        raw = bench.work / "py-spy.txt"
        spy = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "py-spy"),
                "record",
                "--pid",
                str(worker.process.pid),
                "--idle",
                "--threads",
                "--nonblocking",
                "-r",
                str(RATE),
                "-f",
                "raw",
                "-o",
                str(raw),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        t0 = time.time()
        with Progress(console=console) as progress:
            label = f"{args.rate}/s published" if args.rate else "worker drains the backlog"
            counted = kit.count(
                conn, settings.topics.audit, n * recipients, progress=progress, label=label
            )
            audit = kit.run(_while_publishing(conn, messages, args.rate, counted))
        wall = max(r.timestamp / 1000 for _, r in audit) - t0
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=30)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            metrics_text = r.read().decode()
        worker.stop()
        show_worker(samples(raw), transaction_steps(metrics_text), n, wall, args.profile)


async def _while_publishing(
    conn: Connection, messages: list[Any], rate: float, counted: Awaitable[list[Any]]
) -> list[Any]:
    """What ``counted`` returns, with ``messages`` published at ``rate`` meanwhile (if any)."""
    if not rate:
        return await counted
    found: list[Any]
    found, _ = await asyncio.gather(counted, kit.publish_paced(conn, messages, rate))
    return found


def show_worker(
    by_thread: dict[str, Counter[str]],
    steps: dict[tuple[str, str], tuple[float, float]],
    n: int,
    wall: float,
    profile: str,
) -> None:
    console.print(
        f"{n} notices in {wall:.1f} s: {n / wall:,.0f} notices/s, "
        f"{wall / n * 1000:.2f} ms per notice ({profile} profile)"
    )
    for thread, parts in sorted(by_thread.items(), key=lambda kv: -sum(kv[1].values())):
        total = sum(parts.values())
        busy = total - parts.get("waiting (idle)", 0)
        t = Table(
            "part",
            "ms per notice",
            "share of the thread",
            title=f"thread {thread}: sampled {total / RATE:.1f} s, busy {busy / max(total, 1):.0%}",
        )
        for part, k in sorted(parts.items(), key=lambda kv: -kv[1]):
            t.add_row(part, f"{k / RATE / n * 1000:.3f}", f"{k / total:.0%}")
        console.print(t)
    t = Table(
        "stage",
        "step",
        "transactions",
        "mean ms",
        "ms per notice",
        title="transaction steps (the worker's own timings)",
    )
    for (stage, step), (seconds, count) in sorted(steps.items()):
        if count:
            t.add_row(
                stage,
                step,
                f"{count:,.0f}",
                f"{seconds / count * 1000:.2f}",
                f"{seconds / n * 1000:.3f}",
            )
    console.print(t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("pipeline")
    p.add_argument("--notices", type=int, default=1000)
    w = sub.add_parser("worker")
    w.add_argument("--notices", type=int, default=4000)
    w.add_argument("--profile", choices=["plaintext", "secure"], default="plaintext")
    w.add_argument(
        "--rate", type=float, default=0, help="publish at this many notices/s instead of a backlog"
    )
    args = parser.parse_args()
    if args.mode == "pipeline":
        console.print(kit.machine_table(kit.calibrate(), "bench/breakdown.py pipeline"))
        pipeline_report(args.notices)
    else:
        worker_report(args)


if __name__ == "__main__":
    main()
