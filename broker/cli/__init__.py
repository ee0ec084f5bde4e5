"""`broker`: one command for each user. Thin: parsing, I/O and tables; the core decides."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from broker.adapters import logs
from broker.cli import acl as acl_cli
from broker.cli import audit as audit_cli
from broker.cli import keys as keys_cli
from broker.cli import policy as policy_cli
from broker.cli import retention as retention_cli
from broker.cli._common import BeginOpt, IdleOpt, MaxOpt, err, fail, follow, out, settings
from broker.core.deployment.acl import Principals
from broker.core.errors import BrokerError, PolicyError

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold notices or keys
    help="Inter-agency information-sharing broker (police → school, child welfare, SaLTo).",
)
topics_app = typer.Typer(no_args_is_help=True, help="Operators: Kafka topics.")
schemas_app = typer.Typer(no_args_is_help=True, help="Developers: generated schemas/.")
app.add_typer(audit_cli.app, name="audit")
app.add_typer(policy_cli.app, name="policy")
app.add_typer(keys_cli.app, name="keys")
app.add_typer(retention_cli.app, name="retention")
app.add_typer(acl_cli.app, name="acl")
app.add_typer(topics_app, name="topics")
app.add_typer(schemas_app, name="schemas")


# --- publishers: police, schools, child welfare ---------------------------------------------


@app.command()
def publish(
    files: Annotated[list[Path], typer.Argument(help="notice files (JSON)", exists=True)],
    skip_validation: Annotated[
        bool,
        typer.Option(help="send files as they are, even invalid (to test the dead-letter path)"),
    ] = False,
) -> None:
    """Publishers: validate notices, sign them with the issuing unit's key and publish them
    to the notices topic, each with its sender class's principal (publisher.<sender>)."""
    from broker.adapters.kafka.clients import producer, send_all
    from broker.adapters.publisher import by_sender, load_notice, notice_message, raw_message

    s = settings()
    messages, table = [], Table("file", "notice id", "type", "result")
    failed = False
    for path in files:
        if skip_validation:
            try:
                messages.append(raw_message(path, s))
            except BrokerError as exc:
                failed = True
                table.add_row(str(path), "-", "-", f"[red]not sent[/]: {exc}")
                continue
            table.add_row(str(path), "-", "-", "[yellow]sent unvalidated[/]")
            continue
        try:
            notice = load_notice(path)
        except BrokerError as exc:
            failed = True
            table.add_row(str(path), "-", "-", f"[red]invalid, not sent[/]: {exc}")
            continue
        messages.append(notice_message(notice, s))
        table.add_row(str(path), str(notice.notice_id), notice.notice_type, "[green]sent[/]")

    async def go() -> None:
        # one producer per sender class: a class's notices go out with its own certificate
        for sender, batch in by_sender(messages).items():
            async with producer(s.bootstrap, principal=Principals.publisher(sender)) as p:
                await send_all(p, batch)

    if messages:
        asyncio.run(go())
    out.print(table)
    if failed:
        raise typer.Exit(1)


# --- the worker ----------------------------------------------------------------------------


@app.command()
def worker(loglevel: Annotated[str, typer.Option(help="log level")] = "info") -> None:
    """Run the worker: decide, redact, deliver and audit every notice."""
    from broker.services import worker as worker_module

    logs.configure(loglevel)
    try:
        worker_module.run(settings(), loglevel)
    except PolicyError as exc:
        fail(f"policy invalid, worker not started: {exc}")


# --- recipients ----------------------------------------------------------------------------


@app.command()
def subscribe(
    recipient: Annotated[str, typer.Argument(help="recipient id from policies/recipients.yaml")],
    max_records: MaxOpt = None,
    idle_timeout: IdleOpt = None,
    from_beginning: BeginOpt = True,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON line per delivery")] = False,
    send_receipts: Annotated[
        bool, typer.Option("--receipts/--no-receipts", help="report received and opened")
    ] = True,
) -> None:
    """Recipients: verify, decrypt and print this recipient's deliveries as they arrive."""
    from broker.adapters.kafka.clients import producer, send_all
    from broker.adapters.policy_files import load_policy
    from broker.adapters.stores import keyfiles
    from broker.core.audit import access
    from broker.core.audit.events import ce_headers
    from broker.core.crypto import sealing
    from broker.core.envelope import header_map
    from broker.core.errors import NoticeError
    from broker.core.pipeline import OutMessage

    s = settings()
    policy = load_policy(s.policy_dir)
    if recipient not in policy.recipients:
        fail(
            f"recipient: unknown recipient '{recipient}' (known: "
            f"{', '.join(sorted(policy.recipients))})"
        )
    topic = s.topics.delivery(policy.recipients[recipient].topic)
    paths = s.key_paths()
    registry = keyfiles.load_registry(paths.registry)
    # verify the broker's signature, then decrypt with this recipient's own key(s)
    opener = sealing.DeliveryOpener(
        registry, recipient, keyfiles.decryption_keys(paths, registry, recipient)
    )
    receipts: list[OutMessage] = []

    def acknowledge(delivery_id: str) -> None:
        for state in (access.State.received, access.State.opened):
            now = datetime.now(UTC)
            rid, value = access.receipt(delivery_id, state, now)
            receipts.append(
                OutMessage(
                    s.topics.receipts(recipient),
                    None,
                    value,
                    ce_headers(access.RECEIPT_TYPE, rid, now),
                )
            )

    def show(record: Any) -> None:
        try:
            delivery = opener.open(header_map(record.headers), record.value)
        except (NoticeError, sealing.DecryptionError) as exc:
            err.print(
                f"[red]rejected {record.topic}/{record.partition}/{record.offset}: {exc.code}[/]",
                highlight=False,
            )
            return
        if send_receipts:
            acknowledge(delivery["delivery_id"])
        if as_json:
            print(json.dumps(delivery, ensure_ascii=False), flush=True)
            return
        basis = delivery["legal_basis"]
        out.rule(f"delivery {delivery['delivery_id'][:12]} · {delivery['notice_type']} notice")
        out.print(
            f"rule [bold]{delivery['rule_id']}[/] under [bold]{basis['statute']} "
            f"{basis['section']}[/] ({basis['verified']})",
            highlight=False,
        )
        out.print_json(data=delivery["notice"])
        out.print(f"[dim]withheld: {', '.join(delivery['fields_withheld']) or 'nothing'}[/]")

    asyncio.run(
        follow(
            [topic],
            show,
            max_records,
            idle_timeout,
            from_beginning,
            principal=Principals.recipient(recipient),
        )
    )

    async def send() -> None:
        async with producer(s.bootstrap, principal=Principals.recipient(recipient)) as p:
            await send_all(p, receipts)

    if receipts:  # received → opened, for the access log (broker audit relay-receipts)
        asyncio.run(send())


# --- auditors ------------------------------------------------------------------------------


@topics_app.command("create")
def topics_create() -> None:
    """Create the topics that are missing (explicit partitions and configs)."""
    from broker.adapters.kafka.clients import ensure_topics
    from broker.adapters.policy_files import load_policy
    from broker.core.deployment.topics import policy_topic_specs

    s = settings()
    policy = load_policy(s.policy_dir)
    specs = policy_topic_specs(s.topics, policy)
    created = asyncio.run(ensure_topics(s.bootstrap, specs))
    table = Table("topic", "partitions", "config", "status")
    for spec in specs:
        table.add_row(
            spec.name,
            str(spec.partitions),
            ", ".join(f"{k}={v}" for k, v in spec.config.items()),
            "created" if spec.name in created else "exists",
        )
    out.print(table)


@schemas_app.command("export")
def schemas_export(
    check: Annotated[bool, typer.Option(help="exit 1 if schemas/ is stale; write nothing")] = False,
    directory: Annotated[Path, typer.Option(help="output directory")] = Path("schemas"),
) -> None:
    """Write one JSON Schema per message type and version, and the AsyncAPI document."""
    from broker.adapters.policy_files import load_policy
    from broker.core.schemas import render

    files = render(load_policy(settings().policy_dir))
    stale = [
        n
        for n, text in files.items()
        if not (directory / n).exists() or (directory / n).read_text("utf-8") != text
    ]
    if check:
        if stale:
            fail(f"schemas/ is stale: {', '.join(stale)} (run: broker schemas export)", 1)
        out.print(f"schemas/ is up to date ({len(files)} files)")
        return
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    out.print(f"wrote {len(files)} files to {directory}/ ({len(stale)} changed)")


@app.command()
def demo(
    keep_running: Annotated[bool, typer.Option(help="leave Kafka running afterwards")] = False,
) -> None:
    """Run the whole flow end to end on examples/: Kafka, worker, publish, show, stop."""
    from broker.services import demo as demo_module

    logs.configure("warning")
    # wide enough for the tables when the output goes to a file or a CI log
    console = out if out.is_terminal else Console(width=150)
    raise typer.Exit(demo_module.run(console, keep_running=keep_running))


def main() -> None:
    try:
        app()
    except BrokerError as exc:
        err.print(f"[bold red]error ({exc.code}):[/] {exc}", highlight=False)
        sys.exit(2)
