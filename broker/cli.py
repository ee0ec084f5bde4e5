"""`broker`: one command for each user. Thin: parsing, I/O and tables; the core decides."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from broker import logs
from broker.errors import BrokerError, PolicyError
from broker.settings import Settings

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Inter-agency information-sharing broker (police → school, child welfare, SaLTo).",
)
audit_app = typer.Typer(no_args_is_help=True, help="Auditors: read the audit log.")
policy_app = typer.Typer(no_args_is_help=True, help="Lawyers: check the policies.")
topics_app = typer.Typer(no_args_is_help=True, help="Operators: Kafka topics.")
schemas_app = typer.Typer(no_args_is_help=True, help="Developers: generated schemas/.")
app.add_typer(audit_app, name="audit")
app.add_typer(policy_app, name="policy")
app.add_typer(topics_app, name="topics")
app.add_typer(schemas_app, name="schemas")
out = Console()
err = Console(stderr=True)


def _settings() -> Settings:
    return Settings.from_env()


def _fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


# --- police --------------------------------------------------------------------------------


@app.command()
def publish(
    files: Annotated[list[Path], typer.Argument(help="notice files (JSON)", exists=True)],
    skip_validation: Annotated[
        bool,
        typer.Option(help="send files as they are, even invalid (to test the dead-letter path)"),
    ] = False,
) -> None:
    """Police: validate notices and publish them to the notices topic."""
    from broker.kafka import producer, send_all
    from broker.publisher import load_notice, notice_message, raw_message

    settings = _settings()
    messages, table = [], Table("file", "notice id", "type", "result")
    failed = False
    for path in files:
        if skip_validation:
            messages.append(raw_message(path, settings.topics.notices))
            table.add_row(str(path), "-", "-", "[yellow]sent unvalidated[/]")
            continue
        try:
            notice = load_notice(path)
        except BrokerError as exc:
            failed = True
            table.add_row(str(path), "-", "-", f"[red]invalid, not sent[/]: {exc}")
            continue
        messages.append(notice_message(notice, settings))
        table.add_row(str(path), str(notice.notice_id), notice.notice_type, "[green]sent[/]")

    async def go() -> None:
        async with producer(settings.bootstrap) as p:
            await send_all(p, messages)

    if messages:
        asyncio.run(go())
    out.print(table)
    if failed:
        raise typer.Exit(1)


# --- the worker ----------------------------------------------------------------------------


@app.command()
def worker(loglevel: Annotated[str, typer.Option(help="log level")] = "info") -> None:
    """Run the worker: decide, redact, deliver and audit every notice."""
    from broker import worker as worker_module

    logs.configure(loglevel)
    try:
        worker_module.run(_settings(), loglevel)
    except PolicyError as exc:
        _fail(f"policy invalid, worker not started: {exc}")


# --- recipients ----------------------------------------------------------------------------


async def _follow(
    topics: list[str],
    handle: Any,
    max_records: int | None,
    idle_timeout: float | None,
    from_beginning: bool,
) -> int:
    from broker.kafka import consume

    n = 0
    async for record in consume(
        _settings().bootstrap, topics, from_beginning=from_beginning, idle_timeout=idle_timeout
    ):
        handle(record)
        n += 1
        if max_records is not None and n >= max_records:
            break
    return n


MaxOpt = Annotated[int | None, typer.Option("--max", help="stop after this many")]
IdleOpt = Annotated[float | None, typer.Option(help="stop after this many idle seconds")]
BeginOpt = Annotated[
    bool, typer.Option("--from-beginning/--new-only", help="start at the oldest or only show new")
]


@app.command()
def subscribe(
    recipient: Annotated[str, typer.Argument(help="recipient id from policies/recipients.yaml")],
    max_records: MaxOpt = None,
    idle_timeout: IdleOpt = None,
    from_beginning: BeginOpt = True,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON line per delivery")] = False,
) -> None:
    """Recipients: print this recipient's deliveries as they arrive."""
    from broker.policy import load_policy

    settings = _settings()
    policy = load_policy(settings.policy_dir)
    if recipient not in policy.recipients:
        _fail(
            f"recipient: unknown recipient '{recipient}' (known: "
            f"{', '.join(sorted(policy.recipients))})"
        )
    topic = settings.topics.delivery(policy.recipients[recipient].topic)

    def show(record: Any) -> None:
        delivery = json.loads(record.value)
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

    asyncio.run(_follow([topic], show, max_records, idle_timeout, from_beginning))


# --- auditors ------------------------------------------------------------------------------


AUDIT_COLUMNS = (
    "recorded",
    "notice",
    "type",
    "recipient",
    "decision",
    "rule or reason",
    "legal basis",
    "kept/withheld",
)


def _reason(record: dict[str, Any]) -> str:
    """The deciding rule, or the last reason's code and subject (never a value)."""
    if record.get("rule_id"):
        return str(record["rule_id"])
    reason = (record.get("reasons") or ["-"])[-1]
    code, _, detail = reason.partition(": ")
    if code == "no-rule":
        return "no-rule"
    return f"{code} ({detail.removeprefix('rule ')})" if detail else code


def audit_row(r: dict[str, Any]) -> list[str]:
    decision = r.get("outcome") or r["event"]
    style = {"deliver": "green", "deny": "yellow"}.get(decision, "red")
    return [
        r["recorded_at"][11:19],
        (r.get("notice_id") or "-")[:8],
        r.get("notice_type") or "-",
        r.get("recipient") or "-",
        f"[{style}]{decision}[/]",
        _reason(r),
        (r.get("legal_basis") or {}).get("id", "-"),
        f"{len(r.get('fields_kept', []))}/{len(r.get('fields_withheld', []))}",
    ]


def audit_table(
    records: list[dict[str, Any]], title: str | None = "audit records", show_header: bool = True
) -> Table:
    table = Table(*AUDIT_COLUMNS, title=title, show_header=show_header)
    for r in records:
        table.add_row(*audit_row(r))
    return table


@audit_app.command("tail")
def audit_tail(
    max_records: MaxOpt = None,
    idle_timeout: IdleOpt = None,
    from_beginning: BeginOpt = True,
    as_json: Annotated[bool, typer.Option("--json", help="raw JSON lines")] = False,
) -> None:
    """Print audit records as they arrive (field names and keyed references, never values)."""
    settings = _settings()
    widths = (8, 8, 8, 14, 11, 44, 13, 13)
    if not as_json:
        out.print(
            " ".join(c.ljust(w) for c, w in zip(AUDIT_COLUMNS, widths, strict=True)),
            style="bold",
            highlight=False,
        )

    def show(record: Any) -> None:
        data = json.loads(record.value)
        if as_json:
            print(json.dumps(data, ensure_ascii=False), flush=True)
            return
        cells = audit_row(data)
        plain = [c.split("]", 1)[-1].removesuffix("[/]") if c.startswith("[") else c for c in cells]
        out.print(" ".join(c.ljust(w) for c, w in zip(plain, widths, strict=True)), highlight=False)

    asyncio.run(_follow([settings.topics.audit], show, max_records, idle_timeout, from_beginning))


# --- lawyers and operators -----------------------------------------------------------------


@policy_app.command("check")
def policy_check() -> None:
    """Validate policies/: exits non-zero naming the file and the problem."""
    from broker.policy import load_policy

    settings = _settings()
    try:
        policy = load_policy(settings.policy_dir)
    except PolicyError as exc:
        err.print(f"[bold red]{exc.file}[/]")
        for problem in exc.problems:
            err.print(f"  - {problem}", highlight=False)
        raise typer.Exit(1) from None
    out.print(
        f"policies OK: {len(policy.legal_bases)} legal bases, {len(policy.recipients)} "
        f"recipients, {len(policy.rules)} rules; version {policy.version}"
    )


@topics_app.command("create")
def topics_create() -> None:
    """Create the topics that are missing (explicit partitions and configs)."""
    from broker.kafka import ensure_topics
    from broker.policy import load_policy
    from broker.topics import topic_specs

    settings = _settings()
    policy = load_policy(settings.policy_dir)
    specs = topic_specs(settings.topics, [r.topic for r in policy.recipients.values()])
    created = asyncio.run(ensure_topics(settings.bootstrap, specs))
    table = Table("topic", "partitions", "config", "status")
    for s in specs:
        table.add_row(
            s.name,
            str(s.partitions),
            ", ".join(f"{k}={v}" for k, v in s.config.items()),
            "created" if s.name in created else "exists",
        )
    out.print(table)


@schemas_app.command("export")
def schemas_export(
    check: Annotated[bool, typer.Option(help="exit 1 if schemas/ is stale; write nothing")] = False,
    directory: Annotated[Path, typer.Option(help="output directory")] = Path("schemas"),
) -> None:
    """Write one JSON Schema per message type and version, and the AsyncAPI document."""
    from broker.policy import load_policy
    from broker.schemas import render

    files = render(load_policy(_settings().policy_dir))
    stale = [
        n
        for n, text in files.items()
        if not (directory / n).exists() or (directory / n).read_text("utf-8") != text
    ]
    if check:
        if stale:
            _fail(f"schemas/ is stale: {', '.join(stale)} (run: broker schemas export)", 1)
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
    from broker import demo as demo_module

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
