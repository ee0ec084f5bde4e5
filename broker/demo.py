"""`broker demo`: the whole flow on examples/, against a real local Kafka.

Starts Kafka (unless already running) and a worker on topics of their own, publishes the
examples (and one invalid notice), waits until every input is accounted for, shows what each
recipient received and the audit records, then stops what it started.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from broker.cli.audit import audit_table
from broker.kafka import consume, ensure_topics, producer, send_all, wait_for_kafka
from broker.policy import load_policy
from broker.publisher import load_notice, notice_message, raw_message
from broker.settings import ROOT, Settings
from broker.topics import topic_specs

KAFKA_SH = ROOT / "deploy" / "kafka.sh"
EXAMPLES = ROOT / "examples"


def _kafka(command: str) -> int:
    return subprocess.run(["bash", str(KAFKA_SH), command], check=False).returncode


def run(console: Console, keep_running: bool = False) -> int:
    t0 = time.monotonic()
    started_kafka = _kafka("status") != 0
    if started_kafka:
        console.print("[bold]1.[/] starting Apache Kafka (KRaft, 127.0.0.1) …")
        if _kafka("start") != 0:
            console.print("[red]Kafka did not start; see deploy/kafka/var/kafka.log[/]")
            return 1
    else:
        console.print("[bold]1.[/] Kafka is already running; using it")
    prefix = f"demo-{datetime.now(UTC):%Y%m%d-%H%M%S}."
    settings = dataclasses.replace(
        Settings.from_env(), topic_prefix=prefix, app_id=f"{prefix}broker"
    )
    worker: subprocess.Popen[bytes] | None = None
    try:
        worker = _start_worker(console, settings)
        return asyncio.run(_flow(console, settings, worker))
    finally:
        if worker is not None:
            console.print("[bold]6.[/] stopping the worker (SIGTERM) …")
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
        if started_kafka and not keep_running:
            console.print("[bold]7.[/] stopping Kafka …")
            _kafka("stop")
        console.print(f"demo finished in {time.monotonic() - t0:.1f} s")


def _start_worker(console: Console, settings: Settings) -> subprocess.Popen[bytes]:
    policy = load_policy(settings.policy_dir)
    specs = topic_specs(settings.topics, [r.topic for r in policy.recipients.values()])

    async def prepare() -> None:
        await wait_for_kafka(settings.bootstrap)
        await ensure_topics(settings.bootstrap, specs)

    asyncio.run(prepare())
    console.print(
        f"[bold]2.[/] created {len(specs)} topics under the prefix '{settings.topic_prefix}'"
        "; starting the worker …"
    )
    log_path = settings.state_dir / f"{settings.topic_prefix}worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "BROKER_TOPIC_PREFIX": settings.topic_prefix,
        "BROKER_APP_ID": settings.app_id,
        "BROKER_BOOTSTRAP": settings.bootstrap,
    }
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "broker", "worker"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )


async def _flow(console: Console, settings: Settings, worker: subprocess.Popen[bytes]) -> int:
    policy = load_policy(settings.policy_dir)
    valid = sorted(EXAMPLES.glob("*.json"))
    invalid = sorted((EXAMPLES / "invalid").glob("*.json"))
    messages = [notice_message(load_notice(p), settings) for p in valid]
    messages += [raw_message(p, settings.topics.notices) for p in invalid]
    async with producer(settings.bootstrap) as p:
        await send_all(p, messages)
    console.print(
        f"[bold]3.[/] published {len(valid)} notices and {len(invalid)} invalid one(s)"
        f" from examples/"
    )

    expected = len(valid) * len(policy.recipients) + len(invalid)
    audit: list[dict[str, Any]] = []
    columns = (
        TextColumn("[bold]4.[/] audit records"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("audit", total=expected)
        async for record in consume(settings.bootstrap, [settings.topics.audit], idle_timeout=120):
            audit.append(json.loads(record.value))
            progress.update(task, completed=len(audit))
            if len(audit) >= expected or worker.poll() is not None:
                break
    if len(audit) < expected:
        console.print(
            f"[red]only {len(audit)} of {expected} audit records arrived; worker log: "
            f"{settings.state_dir / (settings.topic_prefix + 'worker.log')}[/]"
        )
        return 1

    topics = {settings.topics.delivery(r.topic): r.id for r in policy.recipients.values()}
    received: dict[str, list[dict[str, Any]]] = {r: [] for r in policy.recipients}
    dead: list[Any] = []
    async for record in consume(
        settings.bootstrap, [*topics, settings.topics.dead_letter], idle_timeout=3
    ):
        if record.topic == settings.topics.dead_letter:
            dead.append(record)
        else:
            received[topics[record.topic]].append(json.loads(record.value))

    console.print("[bold]5.[/] what each recipient received")
    for recipient in policy.recipients.values():
        table = Table(
            "notice",
            "rule",
            "legal basis",
            "fields received",
            "withheld",
            title=f"{recipient.id}: {recipient.name}",
            title_justify="left",
        )
        for d in received[recipient.id]:
            basis = d["legal_basis"]
            fields = sorted(_top_fields(d["notice"]))
            table.add_row(
                d["notice"].get("notice_id", "(anon.)")[:8],
                d["rule_id"],
                f"{basis['id']} — {basis['statute'].split(' (')[0]} {basis['section']}",
                ", ".join(fields),
                str(len(d["fields_withheld"])),
            )
        if not received[recipient.id]:
            table.add_row("[yellow]nothing[/]", "-", "-", "-", "-")
        console.print(table)
    console.print(audit_table(audit))
    for record in dead:
        error = dict(record.headers).get("broker_error", b"{}").decode()
        console.print(
            f"[red]dead letter[/] {record.topic}/{record.partition}/{record.offset}: {error}"
        )

    outcomes = Counter(r.get("outcome") or r["event"] for r in audit)
    delivered = sum(len(v) for v in received.values())
    table = Table(
        "published",
        "decisions",
        "delivered",
        "denied",
        "dead-lettered",
        "balanced",
        title="every input accounted for",
    )
    ok = (
        outcomes["deliver"] == delivered
        and len(dead) == outcomes["dead-letter"] == len(invalid)
        and outcomes["deliver"] + outcomes["deny"] == len(valid) * len(policy.recipients)
    )
    table.add_row(
        str(len(messages)),
        str(outcomes["deliver"] + outcomes["deny"]),
        str(delivered),
        str(outcomes["deny"]),
        str(len(dead)),
        "[green]yes[/]" if ok else "[red]NO[/]",
    )
    console.print(table)
    return 0 if ok else 1


def _top_fields(doc: dict[str, Any], prefix: str = "") -> list[str]:
    """Readable field list: objects one level deep (child.name, child.school, …)."""
    names = []
    for key, value in doc.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and not prefix:
            names += _top_fields(value, path + ".")
        else:
            names.append(path)
    return names
