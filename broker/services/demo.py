"""`broker demo`: the whole flow on the shipped example notices, against a real local Kafka.

Starts Kafka (unless already running), a worker and an audit sealer on topics of their own,
publishes the signed examples (and one invalid notice), waits until every input is accounted
for, shows what each recipient received (decrypted with its own key) and the audit records,
opens and closes one duty to inform (broker.services.demo_duties), verifies the audit log,
then stops what it started.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from rich.console import Console, RenderableType
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from broker.adapters import examples
from broker.adapters.kafka.clients import consume, fetch_partition_zero, producer, send_all
from broker.adapters.kafka.local import LocalKafka, free_ports
from broker.adapters.kafka.tls.contexts import Profile
from broker.adapters.policy_files import load_directory, load_policy
from broker.adapters.publisher import by_sender, load_notice, notice_message, raw_message
from broker.adapters.settings import Settings
from broker.adapters.stores import keyfiles
from broker.core.crypto import sealing
from broker.core.deployment.acl import Principals
from broker.core.deployment.topics import SINGLE_NODE
from broker.core.directory import Directory
from broker.core.envelope import header_map
from broker.core.pipeline import AUDIT_TYPE
from broker.core.policy import PolicySet
from broker.services import demo_duties
from broker.services.local import WorkerProcess, broker_command, create_topics

# The caller's rendering of audit records (the CLI's table), passed in: services import no CLI.
AuditTable = Callable[[list[dict[str, Any]]], RenderableType]


def _secure_kafka(settings: Settings) -> LocalKafka:
    """A secure-profile Kafka of the demo's own (mutual TLS, ACLs), beside any other Kafka; its
    jars are fetched once into KAFKA_LIB_DIR (default <state>/kafka/lib)."""
    return LocalKafka(
        lib_dir=settings.kafka_lib_dir or settings.state_dir / "kafka" / "lib",
        data_dir=settings.state_dir / "demo-kafka",
        port=free_ports(),
        policy_dir=settings.policy_dir,
        profile=Profile.secure,
    )


def run(console: Console, audit_table: AuditTable, keep_running: bool = False) -> int:
    t0 = time.monotonic()
    base = Settings.from_env()
    kafka = _secure_kafka(base)
    console.print(
        f"[bold]1.[/] starting Apache Kafka (KRaft, {kafka.bootstrap}) in the secure profile: "
        "mutual TLS, ACLs …"
    )
    if kafka.run("start") != 0:
        console.print(f"[red]Kafka did not start; see {kafka.data_dir}/kafka.log[/]")
        return 1
    # every process below connects as its own principal with its own client certificate
    prefix = f"demo-{datetime.now(UTC):%Y%m%d-%H%M%S}."
    settings = dataclasses.replace(
        base,
        topic_prefix=prefix,
        app_id=f"{prefix}broker",
        bootstrap=kafka.bootstrap,
        kafka=kafka.security(),
        replication=SINGLE_NODE,  # the demo's Kafka is one node, whatever the caller's is
    )
    worker = WorkerProcess(settings, settings.state_dir / f"{prefix}worker.log")
    sealer: subprocess.Popen[bytes] | None = None
    try:
        moved = create_topics(settings)  # topics, ACLs, and keys: units, broker, organisations
        if moved is not None:
            console.print(
                f"[yellow]local keys from before publishers were bound to organisations moved "
                f"to {moved}; new ones made[/]",
                highlight=False,
            )
        console.print(
            f"[bold]2.[/] topics and ACLs under the prefix '{prefix}', keys in "
            f"{settings.key_paths().root}; starting the worker and the audit sealer …"
        )
        worker.start()
        with (settings.state_dir / f"{prefix}sealer.log").open("wb") as log:
            sealer = subprocess.Popen(
                [sys.executable, "-m", "broker", "audit", "seal", "--interval", "1"],
                env=settings.process_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        code = asyncio.run(_flow(console, settings, worker, audit_table))
        return code or _verify(console, settings, sealer)
    finally:
        if sealer is not None and sealer.poll() is None:
            sealer.send_signal(signal.SIGTERM)
            sealer.wait(timeout=30)
        console.print("[bold]8.[/] stopping the worker (SIGTERM) …")
        worker.stop()
        if keep_running:
            console.print(
                f"Kafka keeps running on {settings.bootstrap} (secure profile); stop it with "
                f"{kafka.stop_command()}",
                highlight=False,
            )
        else:
            console.print("[bold]9.[/] stopping Kafka …")
            kafka.run("stop")
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


async def _flow(
    console: Console, settings: Settings, worker: WorkerProcess, audit_table: AuditTable
) -> int:
    policy = load_policy(settings.policy_dir)
    inputs = await _publish(console, settings)
    expected = inputs.valid * len(policy.recipients) + inputs.invalid
    audit = await _await_audit(console, settings, worker, expected)
    if len(audit) < expected:
        console.print(
            f"[red]only {len(audit)} of {expected} audit records arrived; worker log: "
            f"{worker.log_path}[/]"
        )
        return 1
    directory = load_directory(policy)
    received, raw, dead = await _read_back(settings, directory)
    _show_received(console, policy, directory, received)
    console.print(await _isolation(settings, directory, raw))
    console.print(audit_table(audit))
    for record in dead:
        error = dict(record.headers).get("broker_error", b"{}").decode()
        console.print(
            f"[red]dead letter[/] {record.topic}/{record.partition}/{record.offset}: {error}"
        )
    balanced = _show_balance(console, policy, inputs, audit=audit, received=received, dead=dead)
    return balanced or demo_duties.show(console, settings, audit)


@dataclasses.dataclass(frozen=True)
class _Inputs:
    """What the demo published: all messages, and how many of them were valid or invalid."""

    messages: int
    valid: int
    invalid: int


async def _publish(console: Console, settings: Settings) -> _Inputs:
    """Step 3: the signed examples and the invalid ones, each sender class as its principal."""
    valid, invalid = examples.valid(), examples.invalid()
    messages = [notice_message(load_notice(p), settings) for p in valid]
    messages += [raw_message(p, settings) for p in invalid]
    for sender, batch in by_sender(messages).items():  # each class with its own principal
        options = settings.kafka.options(Principals.publisher(sender))
        async with producer(settings.bootstrap, options=options) as p:
            await send_all(p, batch)
    console.print(
        f"[bold]3.[/] published {len(valid)} signed notices (police, a school, child "
        f"welfare) and {len(invalid)} invalid one(s) from the examples"
    )
    return _Inputs(len(messages), len(valid), len(invalid))


async def _await_audit(
    console: Console, settings: Settings, worker: WorkerProcess, expected: int
) -> list[dict[str, Any]]:
    """Step 4: read audit records (as the auditor) until ``expected`` have arrived, the worker
    has exited, or the log is idle for two minutes."""
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
            options=settings.kafka.options(Principals().auditor),
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
    return audit


async def _read_back(
    settings: Settings, directory: Directory
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[Any]], list[Any]]:
    """Every delivery, decrypted with its organisation's own key, and as it is on Kafka, by
    organisation; and the dead letters."""
    topics = {settings.topics.delivery(t): o for o, t in directory.topics.items()}
    received: dict[str, list[dict[str, Any]]] = {o: [] for o in directory.organisations}
    raw: dict[str, list[Any]] = {o: [] for o in directory.organisations}
    dead: list[Any] = []
    openers: dict[str, Any] = {}
    paths = settings.key_paths()
    registry = keyfiles.load_registry(paths.registry)
    async for record in consume(
        settings.bootstrap,
        [*topics, settings.topics.dead_letter],
        idle_timeout=3,
        options=settings.kafka.options(Principals().admin),
    ):
        if record.topic == settings.topics.dead_letter:
            dead.append(record)
            continue
        org = topics[record.topic]
        if org not in openers:  # each organisation decrypts with its own key
            openers[org] = sealing.DeliveryOpener(
                registry, org, keyfiles.decryption_keys(paths, registry, org)
            )
        received[org].append(openers[org].open(header_map(record.headers), record.value))
        raw[org].append(record)
    return received, raw, dead


async def _isolation(
    settings: Settings, directory: Directory, raw: dict[str, list[Any]]
) -> RenderableType:
    """Step 5b: for a school and a district's service that received copies, another of the
    same role (in another district) tries to read its topic as itself — Kafka refuses — and,
    given the bytes anyway (as a Kafka operator holds them), to decrypt them with its own key."""
    table = Table(
        "who tries",
        "whose copies",
        "Kafka read as itself",
        "decrypt the bytes with its own key",
        title="[bold]5b.[/] another school or district cannot read or decrypt them",
        title_justify="left",
    )
    paths = settings.key_paths()
    registry = keyfiles.load_registry(paths.registry)
    for role in ("school", "child-welfare"):
        orgs = sorted(directory.of_kind(role), key=lambda o: o.id)
        owner = next((o for o in orgs if raw[o.id]), None)
        other = next(
            (o for o in orgs if not raw[o.id] and owner and o.district != owner.district), None
        )
        if owner is None or other is None:
            continue
        options = settings.kafka.options(Principals.recipient(other.id))
        topic = settings.topics.delivery(directory.topics[owner.id])
        code, _ = await fetch_partition_zero(settings.bootstrap, options, topic)
        read = "[green]refused[/] (TOPIC_AUTHORIZATION_FAILED)" if code == 29 else f"[red]{code}[/]"
        opener = sealing.DeliveryOpener(
            registry, other.id, keyfiles.decryption_keys(paths, registry, other.id)
        )
        refused = []
        for record in raw[owner.id]:
            try:
                opener.open(header_map(record.headers), record.value)
                refused.append("[red]OPENED[/]")
            except sealing.DecryptionError as exc:
                refused.append(f"[green]refused[/] ({exc.code})")
        table.add_row(
            f"{other.name} ({other.id})",
            f"{owner.name} ({owner.id}): {len(raw[owner.id])}",
            read,
            ", ".join(sorted(set(refused))),
        )
    return table


def _show_balance(
    console: Console,
    policy: PolicySet,
    inputs: _Inputs,
    *,
    audit: list[dict[str, Any]],
    received: dict[str, list[dict[str, Any]]],
    dead: list[Any],
) -> int:
    """Step 6: every input accounted for: decisions match deliveries and dead letters."""
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
        and len(dead) == outcomes["dead-letter"] == inputs.invalid
        and outcomes["deliver"] + outcomes["deny"] == inputs.valid * len(policy.recipients)
    )
    table.add_row(
        str(inputs.messages),
        str(outcomes["deliver"] + outcomes["deny"]),
        str(delivered),
        str(outcomes["deny"]),
        str(len(dead)),
        "[green]yes[/]" if ok else "[red]NO[/]",
    )
    console.print(table)
    return 0 if ok else 1


def _show_received(
    console: Console,
    policy: PolicySet,
    directory: Directory,
    received: dict[str, list[dict[str, Any]]],
) -> None:
    console.print(
        "[bold]5.[/] what each organisation received (decrypted with its own key; on Kafka the "
        "deliveries are ciphertext, each organisation on its own topic)"
    )
    for recipient in policy.recipients.values():
        orgs = sorted(directory.of_kind(recipient.id), key=lambda o: o.id)
        got = [o for o in orgs if received[o.id]]
        table = Table(
            "organisation",
            "notice",
            "rule",
            "legal basis",
            "fields received",
            "withheld",
            title=f"{recipient.id}: {recipient.name.en}",
            title_justify="left",
        )
        for o in got:
            for d in received[o.id]:
                basis = d["legal_basis"]
                fields = sorted(_top_fields(d["notice"]))
                law = f"{basis['id']} — {basis['statute'].split(' (')[0]} {basis['citation']}"
                if duty := d.get("confidentiality"):  # imposed by the police: shown with the law
                    law += f"\n[bold red]confidentiality imposed ({duty['basis']['id']})[/]"
                table.add_row(
                    f"{o.name} ({o.id})",
                    d["notice"].get("notice_id", "(anon.)")[:8],
                    d["rule_id"],
                    law,
                    ", ".join(fields),
                    str(len(d["fields_withheld"])),
                )
        others = len(orgs) - len(got)
        if others:
            what = "nothing" if not got else "nothing for the others"
            table.add_row(f"[yellow]{others} other organisation(s): {what}[/]", *["-"] * 5)
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
