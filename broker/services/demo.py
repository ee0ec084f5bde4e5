"""`broker demo`: the whole flow on examples/, against a real local Kafka.

Starts Kafka (unless already running), a worker and an audit sealer on topics of their own,
publishes the signed examples (and one invalid notice), waits until every input is accounted
for, shows what each recipient received (decrypted with its own key) and the audit records,
verifies the audit log, then stops what it started.
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
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from broker.adapters.kafka.clients import consume, producer, send_all
from broker.adapters.policy_files import load_policy
from broker.adapters.publisher import by_sender, load_notice, notice_message, raw_message
from broker.adapters.settings import ROOT, Settings
from broker.adapters.stores import keyfiles
from broker.cli.audit import audit_table
from broker.core.crypto import sealing
from broker.core.deployment.acl import Principals
from broker.core.envelope import header_map
from broker.core.pipeline import AUDIT_TYPE
from broker.testing.processes import (
    WorkerProcess,
    broker_command,
    create_topics,
    free_port_pair,
    settings_env,
)

KAFKA_SH = ROOT / "deploy" / "kafka.sh"
EXAMPLES = ROOT / "examples"


def _kafka(command: str, env: dict[str, str]) -> int:
    return subprocess.run(["bash", str(KAFKA_SH), command], env=env, check=False).returncode


def _secure_kafka_env(state_dir: Path) -> dict[str, str]:
    """A secure-profile Kafka of the demo's own (mutual TLS, ACLs), beside any other Kafka."""
    data = state_dir / "demo-kafka"
    return {
        **os.environ,
        "KAFKA_PROFILE": "secure",
        "KAFKA_PORT": str(free_port_pair()),
        "KAFKA_DATA_DIR": str(data),
        "KAFKA_CREDENTIALS_DIR": str(data / "credentials"),
    }


def run(console: Console, keep_running: bool = False) -> int:
    t0 = time.monotonic()
    kafka_env = _secure_kafka_env(Settings.from_env().state_dir)
    console.print(
        "[bold]1.[/] starting Apache Kafka (KRaft, 127.0.0.1:"
        f"{kafka_env['KAFKA_PORT']}) in the secure profile: mutual TLS, ACLs …"
    )
    if _kafka("start", kafka_env) != 0:
        console.print(f"[red]Kafka did not start; see {kafka_env['KAFKA_DATA_DIR']}/kafka.log[/]")
        return 1
    # every process below connects as its own principal with its own client certificate
    os.environ.update(
        {
            "BROKER_KAFKA_PROFILE": "secure",
            "BROKER_KAFKA_CREDENTIALS_DIR": kafka_env["KAFKA_CREDENTIALS_DIR"],
            "BROKER_BOOTSTRAP": f"127.0.0.1:{kafka_env['KAFKA_PORT']}",
        }
    )
    prefix = f"demo-{datetime.now(UTC):%Y%m%d-%H%M%S}."
    settings = dataclasses.replace(
        Settings.from_env(), topic_prefix=prefix, app_id=f"{prefix}broker"
    )
    worker = WorkerProcess(settings, settings.state_dir / f"{prefix}worker.log")
    sealer: subprocess.Popen[bytes] | None = None
    try:
        create_topics(settings)  # topics, ACLs, and keys: publishing units, broker, recipients
        console.print(
            f"[bold]2.[/] topics and ACLs under the prefix '{prefix}', keys in "
            f"{settings.key_paths().root}; starting the worker and the audit sealer …"
        )
        worker.start()
        with (settings.state_dir / f"{prefix}sealer.log").open("wb") as log:
            sealer = subprocess.Popen(
                [sys.executable, "-m", "broker", "audit", "seal", "--interval", "1"],
                env=settings_env(settings),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        code = asyncio.run(_flow(console, settings, worker))
        return code or _verify(console, settings, sealer)
    finally:
        if sealer is not None and sealer.poll() is None:
            sealer.send_signal(signal.SIGTERM)
            sealer.wait(timeout=30)
        console.print("[bold]8.[/] stopping the worker (SIGTERM) …")
        worker.stop()
        if keep_running:
            console.print(
                f"Kafka keeps running on {settings.bootstrap} (secure profile); stop "
                f"it with KAFKA_DATA_DIR={kafka_env['KAFKA_DATA_DIR']} "
                "bash deploy/kafka.sh stop"
            )
        else:
            console.print("[bold]9.[/] stopping Kafka …")
            _kafka("stop", kafka_env)
        console.print(f"demo finished in {time.monotonic() - t0:.1f} s")


def _verify(console: Console, settings: Settings, sealer: subprocess.Popen[bytes]) -> int:
    """Seal what is pending, then verify the audit log as an auditor would."""
    sealer.send_signal(signal.SIGTERM)
    sealer.wait(timeout=30)
    broker_command(settings, "audit", "seal", "--once")
    result = broker_command(settings, "audit", "verify")
    console.print(
        "[bold]7.[/] [bold]broker audit verify[/] (Merkle tree, signed checkpoints, witness file):"
    )
    console.print(result.stdout.strip() or result.stderr.strip(), highlight=False)
    return result.returncode


async def _flow(console: Console, settings: Settings, worker: WorkerProcess) -> int:
    policy = load_policy(settings.policy_dir)
    valid = sorted(EXAMPLES.glob("*.json")) + sorted((EXAMPLES / "other-senders").glob("*.json"))
    invalid = sorted((EXAMPLES / "invalid").glob("*.json"))
    messages = [notice_message(load_notice(p), settings) for p in valid]
    messages += [raw_message(p, settings) for p in invalid]
    for sender, batch in by_sender(messages).items():  # each class with its own principal
        async with producer(settings.bootstrap, principal=Principals.publisher(sender)) as p:
            await send_all(p, batch)
    console.print(
        f"[bold]3.[/] published {len(valid)} signed notices (police, a school, child "
        f"welfare) and {len(invalid)} invalid one(s) from examples/"
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
        async for record in consume(
            settings.bootstrap,
            [settings.topics.audit],
            idle_timeout=120,
            principal=Principals().auditor,
        ):
            if dict(record.headers).get("ce_type") != AUDIT_TYPE.encode():
                continue  # checkpoints
            audit.append(json.loads(record.value))
            progress.update(task, completed=len(audit))
            if (
                len(audit) >= expected
                or worker.process is None
                or (worker.process.poll() is not None)
            ):
                break
    if len(audit) < expected:
        console.print(
            f"[red]only {len(audit)} of {expected} audit records arrived; worker log: "
            f"{worker.log_path}[/]"
        )
        return 1

    topics = {settings.topics.delivery(r.topic): r.id for r in policy.recipients.values()}
    received: dict[str, list[dict[str, Any]]] = {r: [] for r in policy.recipients}
    dead: list[Any] = []
    openers: dict[str, Any] = {}
    paths = settings.key_paths()
    registry = keyfiles.load_registry(paths.registry)
    async for record in consume(
        settings.bootstrap, [*topics, settings.topics.dead_letter], idle_timeout=3
    ):
        if record.topic == settings.topics.dead_letter:
            dead.append(record)
            continue
        rid = topics[record.topic]
        if rid not in openers:  # each recipient decrypts with its own key
            openers[rid] = sealing.DeliveryOpener(
                registry, rid, keyfiles.decryption_keys(paths, registry, rid)
            )
        received[rid].append(openers[rid].open(header_map(record.headers), record.value))

    _show_received(console, policy, received)
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
        title="[bold]6.[/] every input accounted for",
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


def _show_received(console: Console, policy: Any, received: dict[str, list[Any]]) -> None:
    console.print(
        "[bold]5.[/] what each recipient received (decrypted with its own key; on "
        "Kafka the deliveries are ciphertext)"
    )
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
            law = f"{basis['id']} — {basis['statute'].split(' (')[0]} {basis['section']}"
            table.add_row(
                d["notice"].get("notice_id", "(anon.)")[:8],
                d["rule_id"],
                law,
                ", ".join(fields),
                str(len(d["fields_withheld"])),
            )
        if not received[recipient.id]:
            table.add_row("[yellow]nothing[/]", "-", "-", "-", "-")
        console.print(table)


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
