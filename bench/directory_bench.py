"""Organisations directory benchmark: does a notice cost more when the directory is larger?

Prints figures and ratios, asserts nothing. Synthetic directories: a core of 10 organisations
from the shipped directory (three schools, the child welfare services of three districts and
the one organisation of each Oslo-wide role), then the rest of the shipped directory, then
invented schools up to the size. The notices are the synthetic police notices with their
child's school and district redrawn from that core, so the same notices resolve at every size
and each size's figure is for the same work. For each size it reports the time to parse and
validate the directory, to generate every organisation's key (start-up, once), one role
resolution, and the pipeline's time per notice (open, verify, decide for every recipient role,
route, seal, record), with its ratio to the smallest directory. Publishing (signing and sealing
by the unit) happens before the clock starts.

With ``--kafka`` (or ``--kafka-only``) it then times, for a synthetic directory of
``--kafka-size`` organisations: the ACL plan and the topic plan, issuing every principal's
certificate (kafka.sh credentials), starting a Kafka of its own in the secure profile, applying
topics and ACLs (broker.adapters.kafka.admin.apply), applying them again (nothing to do) and
stopping that Kafka. The Kafka part holds /tmp/kafka-tests.lock (the integration tests' lock)
while it runs. It needs the local Kafka jars: `bash deploy/kafka.sh fetch`.

    .venv/bin/python bench/directory_bench.py [--notices 1500] [--sizes 10 200 1000]
    .venv/bin/python bench/directory_bench.py --kafka [--kafka-size 200]
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import functools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import yaml
from rich import box
from rich.console import Console
from rich.table import Table

from broker.adapters.kafka.admin import Applied, apply, in_effect
from broker.adapters.kafka.clients import Connection, new_admin
from broker.adapters.kafka.local import free_ports
from broker.adapters.kafka.tls.contexts import KafkaSecurity, Profile
from broker.adapters.policy_files import load_directory, load_policy
from broker.adapters.settings import APP_NAME
from broker.core.deployment.acl import AclBinding, Principals, bindings
from broker.core.deployment.topics import TopicNames, TopicSpec, topic_plan
from broker.core.directory import DIRECTORY_FILE, Directory, parse_directory
from broker.core.pipeline import Source
from broker.core.policy import PolicySet
from broker.core.policy.synthetic import generate
from broker.testing.fakes import ready_pipeline

ROOT = Path(__file__).resolve().parent.parent
KAFKA_SH = ROOT / "deploy" / "kafka.sh"
KAFKA_LOCK = Path("/tmp/kafka-tests.lock")  # noqa: S108 - the integration tests' shared lock
# The core every size lists: schools and district services of three of the districts the
# synthetic notices name; the Oslo-wide organisations are added from the shipped directory.
CORE_DISTRICTS = ("Alna", "Grorud", "Stovner")
CORE_SCHOOLS = ("skole-9001", "skole-9004", "skole-9005")
T = TypeVar("T")
# piped (a log, a README figure): wide enough for the tables
console = Console(width=None if sys.stdout.isatty() else 160)


def _is_core(org: dict[str, Any]) -> bool:
    if org["kind"] == "school":
        return bool(org["id"] in CORE_SCHOOLS)
    if org["kind"] == "child-welfare":
        return bool(org.get("district") in CORE_DISTRICTS)
    return True  # the one organisation of an Oslo-wide role


def shipped() -> list[dict[str, Any]]:
    data = yaml.safe_load((ROOT / "policies" / DIRECTORY_FILE).read_text(encoding="utf-8"))
    return list(data["organisations"])


def directory_entries(size: int) -> list[dict[str, Any]]:
    """``size`` organisations: the core first, then the shipped directory's others, then
    invented schools."""
    listed = shipped()
    core = [o for o in listed if _is_core(o)]
    if size < len(core):
        raise SystemExit(f"--sizes: at least {len(core)} (the core every size lists), got {size}")
    orgs = (core + [o for o in listed if not _is_core(o)])[:size]
    orgs += [
        {
            "id": f"bench-skole-{i}",
            "name": f"Benkeskole {i}",
            "kind": "school",
            "school_id": f"bench-{i}",
            "district": "Alna",
            "example": True,
        }
        for i in range(size - len(orgs))
    ]
    return orgs


def synthetic_directory(policy: PolicySet, size: int) -> tuple[bytes, Directory]:
    orgs = directory_entries(size)
    data = yaml.safe_dump({"organisations": orgs}, allow_unicode=True).encode()
    return data, parse_directory(data, "synthetic", policy.recipients)


def drawn_from_core(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The notices with each child's district and school (if it has one) from the core."""
    schools = sorted(str(o["school_id"]) for o in shipped() if o["id"] in CORE_SCHOOLS)
    out = []
    for i, doc in enumerate(docs):
        child = dict(doc["child"], district=CORE_DISTRICTS[i % len(CORE_DISTRICTS)])
        if isinstance(child.get("school"), dict):
            school_id = schools[(i // len(CORE_DISTRICTS)) % len(schools)]
            child["school"] = dict(child["school"], school_id=school_id)
        out.append(dict(doc, child=child))
    return out


def timed(work: Callable[[], T]) -> tuple[T, float]:
    t0 = time.perf_counter()
    result = work()
    return result, time.perf_counter() - t0


def measure(policy: PolicySet, size: int, docs: list[dict[str, Any]]) -> dict[str, float]:
    (data, directory), parse_s = timed(lambda: synthetic_directory(policy, size))
    child = docs[0]["child"]
    n_resolve = 20_000
    t0 = time.perf_counter()
    for _ in range(n_resolve):
        directory.resolve("school", child)
        directory.resolve("child-welfare", child)
    resolve_us = (time.perf_counter() - t0) / (2 * n_resolve) * 1e6
    # a fresh key per organisation of the directory: what grows with it, once at start
    ready, keys_s = timed(lambda: ready_pipeline(policy, directory=directory))
    timings: list[float] = []
    delivered = 0
    for offset, doc in enumerate(docs):
        ready.clock.now = datetime.fromisoformat(doc["issued_at"]) + timedelta(minutes=1)
        headers, sealed = ready.publish(json.dumps(doc).encode(), ready.headers(doc))
        t0 = time.perf_counter()
        result = ready.pipeline.process(sealed, headers, Source("t.notices", 0, offset))
        timings.append(time.perf_counter() - t0)
        if result.error is not None:
            raise SystemExit(f"notice {offset} was dead-lettered: {result.error}")
        delivered += len(result.deliveries)
    return {
        "deliveries": float(delivered),
        "organisations": float(len(directory.organisations)),
        "bytes": float(len(data)),
        "parse_ms": parse_s * 1000,
        "keys_ms": keys_s * 1000,
        "resolve_us": resolve_us,
        "median_ms": statistics.median(timings) * 1000,
        "mean_ms": statistics.fmean(timings) * 1000,
    }


def pipeline_section(policy: PolicySet, sizes: list[int], notices: int) -> None:
    generated = [d for d in generate(notices, seed=3) if d["notice_type"] in {"incident", "risk"}]
    docs = drawn_from_core(generated)
    core = sum(1 for o in shipped() if _is_core(o))
    console.print(f"{len(docs)} police notices, {len(policy.recipients)} recipient roles each")
    console.print(
        f"notices: child.school and child.district redrawn from the {core} organisations every "
        f"size lists ({len(CORE_SCHOOLS)} schools, {len(CORE_DISTRICTS)} districts' child "
        "welfare, one of each Oslo-wide role): the same notices at every size"
    )
    # each size measured twice, in alternating order, keeping the faster run: a busy moment
    # of the machine should not pass for a cost of the directory
    order = [*sizes, *reversed(sizes)]
    best: dict[int, dict[str, float]] = {}
    t_all = time.perf_counter()
    for i, size in enumerate(order, 1):
        with console.status(f"directory of {size:,} organisations …"):
            r, seconds = timed(functools.partial(measure, policy, size, docs))
        console.print(f"[{i}/{len(order)}] directory of {size:,} organisations: {seconds:.1f} s")
        if size not in best or r["median_ms"] < best[size]["median_ms"]:
            best[size] = r
    rows = [best[size] for size in sizes]
    base = rows[0]["median_ms"]
    table = Table(
        *("organisations", "file KiB", "parse ms", "keys ms (start-up)", "resolve µs"),
        *("deliveries", "median ms", "mean ms", "ratio"),
        title="per notice, in-process",
        box=box.MARKDOWN,
    )
    for r in rows:
        table.add_row(
            f"{r['organisations']:,.0f}",
            f"{r['bytes'] / 1024:.1f}",
            f"{r['parse_ms']:,.1f}",
            f"{r['keys_ms']:,.1f}",
            f"{r['resolve_us']:.2f}",
            f"{r['deliveries']:,.0f}",
            f"{r['median_ms']:.3f}",
            f"{r['mean_ms']:.3f}",
            f"{r['median_ms'] / base:.2f}",
        )
    console.print(table)
    console.print(
        f"ratio: the median per-notice time against {sizes[0]:,} organisations (1.00 = flat); "
        f"keys: an X25519 key per organisation, once at start; {time.perf_counter() - t_all:.0f} s"
    )


@contextmanager
def kafka_lock() -> Iterator[None]:
    """The integration tests' lock (`flock /tmp/kafka-tests.lock`): one Kafka at a time."""
    with KAFKA_LOCK.open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            console.print(f"waiting for {KAFKA_LOCK} (another Kafka run holds it) …")
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class Steps:
    """The Kafka section's steps, each timed, shown as it starts and ends, and tabled."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, float]] = []

    def run(self, what: str, work: Callable[[], T], counts: Callable[[T], str]) -> T:
        console.print(f"[{len(self.rows) + 1}] {what} …")
        with console.status(what):
            result, seconds = timed(work)
        self.rows.append((what, counts(result), seconds))
        console.print(f"    {counts(result)}: {seconds:.2f} s")
        return result

    def table(self, size: int) -> Table:
        title = f"{size:,} organisations on a real Kafka, secure profile"
        table = Table("step", "count", "seconds", title=title, box=box.MARKDOWN)
        for what, count, seconds in self.rows:
            table.add_row(what, count, f"{seconds:.2f}")
        return table


def kafka_sh(command: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        ["bash", str(KAFKA_SH), command], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"kafka.sh {command} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def _none(_: object) -> str:
    return "-"


def applied(a: Applied) -> str:
    return (
        f"{len(a.topics_created):,} topics, {len(a.created):,} ACLs created; {len(a.kept):,} kept"
    )


def kafka_section(policy: PolicySet, size: int) -> None:
    if not any((ROOT / "deploy" / "kafka" / "lib").glob("kafka_2.13-*.jar")):
        raise SystemExit(
            "--kafka: no Kafka jars in deploy/kafka/lib; run bash deploy/kafka.sh fetch"
        )
    data, _ = synthetic_directory(policy, size)
    base = Path(tempfile.mkdtemp(prefix="directory-bench-"))
    shutil.copytree(ROOT / "policies", base / "policies")
    (base / "policies" / DIRECTORY_FILE).write_bytes(data)
    port = free_ports()
    creds = base / "credentials"
    env = {
        **os.environ,
        "BROKER_POLICY_DIR": str(base / "policies"),  # kafka.sh makes a certificate for each
        "KAFKA_PROFILE": "secure",
        "KAFKA_PORT": str(port),
        "KAFKA_DATA_DIR": str(base / "data"),
        "KAFKA_CREDENTIALS_DIR": str(creds),
        "KAFKA_PYTHON": sys.executable,
        "KAFKA_START_TIMEOUT": "90",
    }
    console.print(f"\nKafka: a directory of {size:,} organisations, its own broker on port {port}")
    try:
        with kafka_lock():
            _kafka_steps(env, base, creds, size)
    finally:
        shutil.rmtree(base, ignore_errors=True)


async def looks_until_in_effect(
    conn: Connection, acls: list[AclBinding], specs: list[TopicSpec]
) -> int:
    """How many looks until the broker shows every ACL and topic (admin.in_effect)."""
    admin = new_admin(conn)
    await admin.start()
    try:
        return await in_effect(admin, acls, specs)
    finally:
        await admin.close()


def _kafka_steps(env: dict[str, str], base: Path, creds: Path, size: int) -> None:
    steps = Steps()
    names = TopicNames()
    directory = load_directory(load_policy(base / "policies"))
    acls = steps.run(
        "ACL plan (acl.bindings)",
        lambda: bindings(directory.topics, names, APP_NAME),
        lambda b: f"{len(b):,} bindings",
    )
    specs = steps.run(
        "topic plan (topic_plan)",
        lambda: topic_plan(names, directory),
        lambda s: f"{len(s):,} topics, {sum(t.partitions for t in s):,} partitions",
    )
    steps.run(
        "certificates (kafka.sh credentials)",
        lambda: kafka_sh("credentials", env),
        lambda _: f"{sum(1 for p in creds.rglob('*.crt') if p.name != 'ca.crt'):,} certificates",
    )
    steps.run("Kafka start, secure profile (kafka.sh start)", lambda: kafka_sh("start", env), _none)
    try:
        security = KafkaSecurity(Profile.secure, creds)
        bootstrap = f"127.0.0.1:{env['KAFKA_PORT']}"
        conn = Connection(bootstrap, security.options(Principals().admin))

        def apply_plan() -> Applied:
            return asyncio.run(apply(bootstrap, security, acls, specs, wait=None))

        steps.run("apply: topics and ACLs", apply_plan, applied)
        steps.run(
            "in effect (describe shows every ACL and topic)",
            lambda: asyncio.run(looks_until_in_effect(conn, acls, specs)),
            lambda looks: f"{looks} looks",
        )
        steps.run("apply again (idempotent)", apply_plan, applied)
    finally:
        steps.run("Kafka stop (kafka.sh stop)", lambda: kafka_sh("stop", env), _none)
    console.print(steps.table(size))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notices", type=int, default=1500)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 60, 200, 1000, 5000])
    parser.add_argument("--kafka", action="store_true", help="then the Kafka section")
    parser.add_argument("--kafka-only", action="store_true", help="only the Kafka section")
    parser.add_argument("--kafka-size", type=int, default=200)
    args = parser.parse_args()
    policy = load_policy(ROOT / "policies")
    load = os.getloadavg()
    console.print(f"machine: {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f}")
    if not args.kafka_only:
        pipeline_section(policy, args.sizes, args.notices)
    if args.kafka or args.kafka_only:
        kafka_section(policy, args.kafka_size)


if __name__ == "__main__":
    main()
