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
from broker.core.citations import law
from broker.core.crypto import sealing
from broker.core.deployment.acl import Principals
from broker.core.deployment.topics import SINGLE_NODE
from broker.core.directory import Directory
from broker.core.envelope import header_map
from broker.core.i18n import Translator
from broker.core.labels import field_groups
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


def _step(n: str, text: str) -> str:
    return f"[bold]{n}.[/] {text}"


def run(
    console: Console, audit_table: AuditTable, t: Translator, keep_running: bool = False
) -> int:
    """The demo, its words in ``t``'s language; 0 if every step held."""
    t0 = time.monotonic()
    base = Settings.from_env()
    kafka = _secure_kafka(base)
    console.print(
        _step(
            "1",
            t.gettext(
                "starting Apache Kafka (KRaft, %(bootstrap)s) in the secure profile: mutual "
                "TLS, ACLs …",
                bootstrap=kafka.bootstrap,
            ),
        )
    )
    if kafka.run("start") != 0:
        text = t.gettext("Kafka did not start; see %(log)s", log=f"{kafka.data_dir}/kafka.log")
        console.print(f"[red]{text}[/]")
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
            text = t.gettext(
                "local keys from before publishers were bound to organisations moved to "
                "%(moved)s; new ones made",
                moved=moved,
            )
            console.print(f"[yellow]{text}[/]", highlight=False)
        console.print(
            _step(
                "2",
                t.gettext(
                    "topics and ACLs under the prefix '%(prefix)s', keys in %(keys)s; starting "
                    "the worker and the audit sealer …",
                    prefix=prefix,
                    keys=settings.key_paths().root,
                ),
            )
        )
        worker.start()
        with (settings.state_dir / f"{prefix}sealer.log").open("wb") as log:
            sealer = subprocess.Popen(
                [sys.executable, "-m", "broker", "audit", "seal", "--interval", "1"],
                env=settings.process_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        code = asyncio.run(_flow(console, settings, worker, audit_table, t))
        return code or _verify(console, settings, sealer, t)
    finally:
        if sealer is not None and sealer.poll() is None:
            sealer.send_signal(signal.SIGTERM)
            sealer.wait(timeout=30)
        console.print(_step("8", t.gettext("stopping the worker (SIGTERM) …")))
        worker.stop()
        if keep_running:
            console.print(
                t.gettext(
                    "Kafka keeps running on %(bootstrap)s (secure profile); stop it with "
                    "%(command)s",
                    bootstrap=settings.bootstrap,
                    command=kafka.stop_command(),
                ),
                highlight=False,
            )
        else:
            console.print(_step("9", t.gettext("stopping Kafka …")))
            kafka.run("stop")
        took = t.number(round(time.monotonic() - t0, 1))
        console.print(t.gettext("demo finished in %(seconds)s s", seconds=took))


def _verify(
    console: Console, settings: Settings, sealer: subprocess.Popen[bytes], t: Translator
) -> int:
    """Seal what is pending, then verify the audit log as an auditor would."""
    sealer.send_signal(signal.SIGTERM)
    sealer.wait(timeout=30)
    broker_command(settings, "audit", "seal", "--once")
    result = broker_command(settings, "audit", "verify")
    console.print(
        _step(
            "7",
            t.gettext(
                "%(command)s (Merkle tree, signed checkpoints, witness file):",
                command="[bold]broker audit verify[/]",
            ),
        )
    )
    console.print(result.stdout.strip() or result.stderr.strip(), highlight=False)
    return result.returncode


async def _flow(
    console: Console,
    settings: Settings,
    worker: WorkerProcess,
    audit_table: AuditTable,
    t: Translator,
) -> int:
    policy = load_policy(settings.policy_dir)
    inputs = await _publish(console, settings, t)
    expected = inputs.valid * len(policy.recipients) + inputs.invalid
    audit = await _await_audit(console, settings, worker, expected, t)
    if len(audit) < expected:
        text = t.gettext(
            "only %(arrived)s of %(expected)s audit records arrived; worker log: %(log)s",
            arrived=len(audit),
            expected=expected,
            log=worker.log_path,
        )
        console.print(f"[red]{text}[/]")
        return 1
    directory = load_directory(policy)
    received, raw, dead = await _read_back(settings, directory)
    _show_received(console, policy, directory, received, t)
    console.print(await _isolation(settings, directory, raw, t))
    console.print(audit_table(audit))
    for record in dead:
        error = dict(record.headers).get("broker_error", b"{}").decode()  # codes, in English
        where = f"{record.topic}/{record.partition}/{record.offset}"
        text = t.gettext("dead letter %(where)s: %(error)s", where=where, error=error)
        console.print(f"[red]{text}[/]")
    balanced = _show_balance(console, policy, inputs, t, audit=audit, received=received, dead=dead)
    return balanced or demo_duties.show(console, settings, audit, t)


@dataclasses.dataclass(frozen=True)
class _Inputs:
    """What the demo published: all messages, and how many of them were valid or invalid."""

    messages: int
    valid: int
    invalid: int


async def _publish(console: Console, settings: Settings, t: Translator) -> _Inputs:
    """Step 3: the signed examples and the invalid ones, each sender class as its principal."""
    valid, invalid = examples.valid(), examples.invalid()
    messages = [notice_message(load_notice(p), settings) for p in valid]
    messages += [raw_message(p, settings) for p in invalid]
    for sender, batch in by_sender(messages).items():  # each class with its own principal
        options = settings.kafka.options(Principals.publisher(sender))
        async with producer(settings.bootstrap, options=options) as p:
            await send_all(p, batch)
    console.print(
        _step(
            "3",
            t.gettext(
                "published %(valid)s signed notices (police, a school, child welfare) and "
                "%(invalid)s invalid from the examples",
                valid=len(valid),
                invalid=len(invalid),
            ),
        )
    )
    return _Inputs(len(messages), len(valid), len(invalid))


async def _await_audit(
    console: Console, settings: Settings, worker: WorkerProcess, expected: int, t: Translator
) -> list[dict[str, Any]]:
    """Step 4: read audit records (as the auditor) until ``expected`` have arrived, the worker
    has exited, or the log is idle for two minutes."""
    audit: list[dict[str, Any]] = []
    columns = (
        TextColumn(_step("4", t.gettext("audit records"))),
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
    settings: Settings, directory: Directory, raw: dict[str, list[Any]], t: Translator
) -> RenderableType:
    """Step 5b: for a school and a district's service that received copies, another of the
    same role (in another district) tries to read its topic as itself — Kafka refuses — and,
    given the bytes anyway (as a Kafka operator holds them), to decrypt them with its own key."""
    table = Table(
        t.gettext("who tries"),
        t.gettext("whose copies"),
        t.gettext("read from Kafka as itself"),
        t.gettext("decrypt the bytes with its own key"),
        title=_step("5b", t.gettext("another school or district cannot read or decrypt them")),
        title_justify="left",
    )
    refused_as, opened = t.gettext("refused"), t.gettext("OPENED")
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
        read = (
            f"[green]{refused_as}[/] (TOPIC_AUTHORIZATION_FAILED)"
            if code == 29
            else f"[red]{code}[/]"
        )
        opener = sealing.DeliveryOpener(
            registry, other.id, keyfiles.decryption_keys(paths, registry, other.id)
        )
        refused = []
        for record in raw[owner.id]:
            try:
                opener.open(header_map(record.headers), record.value)
                refused.append(f"[red]{opened}[/]")
            except sealing.DecryptionError as exc:
                refused.append(f"[green]{refused_as}[/] ({exc.code})")
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
    t: Translator,
    *,
    audit: list[dict[str, Any]],
    received: dict[str, list[dict[str, Any]]],
    dead: list[Any],
) -> int:
    """Step 6: every input accounted for: decisions match deliveries and dead letters."""
    outcomes = Counter(r.get("outcome") or r["event"] for r in audit)
    delivered = sum(len(v) for v in received.values())
    table = Table(
        t.gettext("published"),
        t.gettext("decisions"),
        t.gettext("delivered"),
        t.gettext("not shared"),
        t.gettext("dead-lettered"),
        t.gettext("balanced"),
        title=_step("6", t.gettext("every input accounted for")),
    )
    ok = (
        outcomes["deliver"] == delivered
        and len(dead) == outcomes["dead-letter"] == inputs.invalid
        and outcomes["deliver"] + outcomes["deny"] == inputs.valid * len(policy.recipients)
    )
    yes, no = t.gettext("yes"), t.gettext("NO")
    counts = (
        inputs.messages,
        outcomes["deliver"] + outcomes["deny"],
        delivered,
        outcomes["deny"],
        len(dead),
    )
    table.add_row(
        *(t.number(n) for n in counts),
        f"[green]{yes}[/]" if ok else f"[red]{no}[/]",
    )
    console.print(table)
    return 0 if ok else 1


def _show_received(
    console: Console,
    policy: PolicySet,
    directory: Directory,
    received: dict[str, list[dict[str, Any]]],
    t: Translator,
) -> None:
    console.print(
        _step(
            "5",
            t.gettext(
                "what each organisation received (decrypted with its own key; on Kafka the "
                "deliveries are ciphertext, each organisation on its own topic)"
            ),
        )
    )
    for recipient in policy.recipients.values():
        orgs = sorted(directory.of_kind(recipient.id), key=lambda o: o.id)
        got = [o for o in orgs if received[o.id]]
        table = Table(
            t.gettext("organisation"),
            t.gettext("notice"),
            t.gettext("rule"),
            t.gettext("legal basis"),
            t.gettext("fields received"),
            t.gettext("withheld"),
            title=f"{recipient.name.of(t.lang)} ({recipient.id})",
            title_justify="left",
        )
        for o in got:
            for d in received[o.id]:
                basis = d["legal_basis"]
                # by the part of the notice, with how many fields of each: the table compares
                # what each recipient got (`broker subscribe` shows a copy field by field)
                fields = [
                    t.gettext(
                        "%(part)s (%(count)s)", part=g["label"], count=t.number(len(g["fields"]))
                    )
                    for g in field_groups(_top_fields(d["notice"]), t)
                ]
                cited = f"{law(basis['statute'], basis['citation'], t)} ({basis['id']})"
                if duty := d.get("confidentiality"):  # imposed by the police: shown with the law
                    imposed = t.gettext(
                        "confidentiality imposed (%(basis)s)", basis=duty["basis"]["id"]
                    )
                    cited += f"\n[bold red]{imposed}[/]"
                table.add_row(
                    f"{o.name} ({o.id})",
                    str(d["notice"].get("notice_id") or "")[:8] or t.gettext("anonymous"),
                    d["rule_id"],
                    cited,
                    ", ".join(fields),
                    t.number(len(d["fields_withheld"])),
                )
        others = len(orgs) - len(got)
        if others:
            what = (
                t.ngettext(
                    "%(n)s other organisation: nothing",
                    "%(n)s other organisations: nothing",
                    others,
                )
                if got
                else t.ngettext(
                    "%(n)s organisation: nothing", "%(n)s organisations: nothing", others
                )
            )
            table.add_row(f"[yellow]{what}[/]", *["-"] * 5)
        console.print(table)


def _top_fields(doc: dict[str, Any], prefix: str = "") -> list[str]:
    """The copy's fields, objects one level deep (child.name, child.school, …)."""
    names = []
    for key, value in doc.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and not prefix:
            names += _top_fields(value, path + ".")
        else:
            names.append(path)
    return names
