"""What the worker benchmarks share (bench/e2e.py, bench/profile.py): a one-node Kafka of their
own in either profile, the machine they ran on and a crypto calibration measured at start,
publishing a backlog, and counting what the worker wrote."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import platform
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from rich.progress import Progress
from rich.table import Table

from broker.adapters.kafka.clients import Connection, new_consumer, producer, send_all
from broker.adapters.kafka.local import free_ports
from broker.adapters.kafka.tls.contexts import Profile
from broker.adapters.settings import Settings
from broker.core.deployment.acl import Principals
from broker.core.pipeline import OutMessage
from broker.services.local import create_topics
from broker.testing.cluster import Cluster
from broker.testing.processes import fresh_settings

ROOT = Path(__file__).resolve().parent.parent  # the checkout: deploy/kafka.sh, policies/
ADMIN = Principals().admin  # the benchmark's own clients: the super user


@dataclasses.dataclass(frozen=True)
class Bench:
    """A Kafka of the benchmark's own and settings pointing at it."""

    cluster: Cluster
    base: Settings
    work: Path

    def fresh(self, tag: str) -> Settings:
        """Settings with topics of their own (a fresh prefix), created."""
        settings = fresh_settings(self.base, tag=tag)
        create_topics(settings)
        return settings

    def connection(self) -> Connection:
        return Connection.of(self.base, ADMIN)


@contextmanager
def own_kafka(profile: str, say: Any) -> Iterator[Bench]:
    """A one-node Kafka in ``profile`` (plaintext or secure: mutual TLS, ACLs) on free ports,
    with a copy of policies/, stopped and removed afterwards."""
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    shutil.copytree(ROOT / "policies", work / "policies")
    cluster = Cluster(
        work / "kafka",
        free_ports(2),
        work / "policies",
        nodes=1,
        profile=Profile(profile),
        script=ROOT / "deploy" / "kafka.sh",
    )
    say(f"starting a Kafka of its own ({profile} profile) on {cluster.bootstrap}")
    cluster.start()
    try:
        with cluster.in_environment():
            base = dataclasses.replace(
                cluster.settings(Settings.from_env()),
                state_dir=work / "state",
                policies=work / "policies",
            )
            yield Bench(cluster, base, work)
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = "?"
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = os.getloadavg()
    return {
        "cores (usable)": f"{len(os.sched_getaffinity(0))} of {os.cpu_count()}",
        "cpu": cpu,
        "load average (1, 5, 15 min)": ", ".join(f"{x:.2f}" for x in load),
        "python": platform.python_version(),
    }


def calibrate(seconds: float = 0.3) -> dict[str, float]:
    """Operations per second of the public-key work a notice needs, measured now."""
    key = Ed25519PrivateKey.generate()
    public = key.public_key()
    message = os.urandom(2100)
    signature = key.sign(message)
    peer = X25519PrivateKey.generate().public_key()

    def rate(op: Any) -> float:
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            for _ in range(50):
                op()
            n += 50
        return n / (time.perf_counter() - t0)

    return {
        "Ed25519 sign (2.1 kB)": rate(lambda: key.sign(message)),
        "Ed25519 verify (2.1 kB)": rate(lambda: public.verify(signature, message)),
        "X25519 key generation + agreement": rate(
            lambda: X25519PrivateKey.generate().exchange(peer)
        ),
    }


def machine_table(calibration: dict[str, float], title: str) -> Table:
    table = Table("machine", "", title=title)
    for k, v in machine().items():
        table.add_row(k, v)
    for k, per_s in calibration.items():
        table.add_row(k, f"{per_s:,.0f}/s ({1e6 / per_s:.0f} µs)")
    return table


async def publish(conn: Connection, messages: list[OutMessage]) -> None:
    async with producer(conn.bootstrap, conn.security) as p:
        for i in range(0, len(messages), 2000):
            await send_all(p, messages[i : i + 2000])


async def publish_paced(conn: Connection, messages: list[OutMessage], rate: float) -> list[float]:
    """``messages`` one at a time at ``rate`` per second, as publishers send when it is quiet:
    the time.time() each was sent at."""
    sent = []
    async with producer(conn.bootstrap, conn.security) as p:
        start = time.monotonic()
        for i, m in enumerate(messages):
            await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
            sent.append(time.time())
            await p.send(m.topic, m.value, key=m.key, headers=list(m.headers))
    return sent


async def count(
    conn: Connection,
    topic: str,
    expected: int,
    *,
    progress: Progress,
    label: str,
    timeout: float = 900,
) -> list[tuple[float, Any]]:
    """Read ``topic`` (read committed) until ``expected`` records arrived: (arrival, record)."""
    consumer: AIOKafkaConsumer = new_consumer(
        conn,
        topic,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    await consumer.start()
    task = progress.add_task(label, total=expected)
    records: list[tuple[float, Any]] = []
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


_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of ``pid`` so far (None once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime (fields 14, 15)


def dirty_mib() -> float:
    """Page cache not yet on disk (Dirty + Writeback): what an fsync may wait behind."""
    kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("Dirty", "Writeback"):
            kib += int(rest.split()[0])
    return kib / 1024


def pids_running(marker: str) -> list[int]:
    """Processes whose command line contains ``marker`` (e.g. a Kafka's data folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(os.getpid()):
            try:
                if marker in entry.joinpath("cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@dataclasses.dataclass
class Sampler:
    """What else the machine did during a run: CPU of named processes and the dirty page
    cache, sampled from a thread every ``every`` seconds."""

    pids: dict[str, list[int]]
    every: float = 0.25
    samples: list[tuple[float, dict[str, float], float]] = dataclasses.field(default_factory=list)
    _stop: threading.Event = dataclasses.field(default_factory=threading.Event)

    def __enter__(self) -> Sampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            cpu = {
                name: sum(c for c in map(cpu_seconds, pids) if c is not None)
                for name, pids in self.pids.items()
            }
            self.samples.append((time.time(), cpu, dirty_mib()))
            self._stop.wait(self.every)

    def usage(self, start: float, end: float) -> tuple[dict[str, float], float]:
        """CPU share of each name (1.0 = one core) between two times, and the most dirty
        page cache seen then (MiB)."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        if len(inside) < 2:
            return {name: float("nan") for name in self.pids}, float("nan")
        (t0, c0, _), (t1, c1, _) = inside[0], inside[-1]
        share = {name: (c1[name] - c0[name]) / (t1 - t0) for name in self.pids}
        return share, max(d for _, _, d in inside)


def run(coro: Any) -> Any:
    return asyncio.run(coro)
