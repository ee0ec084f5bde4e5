"""`broker audit …`: the auditors' commands, and the sealer that makes the log tamper-evident.

The shell around broker.core.audit (pure) and broker.adapters.stores.auditor: Kafka, files, keys,
tables. Reading the
audit topic is by explicit partition and offset (no consumer group), in topic order: that order
is the log's order.

    seal      follow the audit topic, publish signed checkpoints, append them to the witness file
    sync      materialise the topic into the auditor store (SQLite or PostgreSQL), verifying
    verify    check the topic, the store or a dump; exit 1 naming the first bad record, 3 if
              records are not proven (unsealed, no checkpoints, no witness)
    query · subject · stats · review · tail    read the log
    pubkey · dump · prove · check-proof        for auditors working offline
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from broker.adapters.kafka.clients import client_options
from broker.adapters.stores.keyfiles import create_secret_file
from broker.cli._common import BeginOpt, IdleOpt, MaxOpt, err, fail, follow, out, settings
from broker.core.deployment.acl import Principals

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

    from broker.adapters.settings import Settings
    from broker.adapters.stores.auditor import AuditStore
    from broker.core.audit import Checkpoint, Entry, Report
    from broker.core.crypto.registry import Registry, SigningKey

app = typer.Typer(no_args_is_help=True, help="Auditors: read, seal and check the audit log.")


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
    if r.get("event") == "review":
        return [
            str(r.get("recorded_at", ""))[11:19],
            "-",
            "-",
            "-",
            "[cyan]review[/]",
            f"of {str(r.get('reviewed_record_id'))[:12]} by {r.get('reviewer')}",
            "-",
            "-",
        ]
    decision = r.get("outcome") or r.get("event", "?")
    style = {"deliver": "green", "deny": "yellow"}.get(decision, "red")
    return [
        str(r.get("recorded_at", ""))[11:19],
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


@app.command("tail")
def audit_tail(
    max_records: MaxOpt = None,
    idle_timeout: IdleOpt = None,
    from_beginning: BeginOpt = True,
    as_json: Annotated[bool, typer.Option("--json", help="raw JSON lines")] = False,
) -> None:
    """Print audit records as they arrive (field names and keyed references, never values)."""
    s = settings()
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
        if dict(record.headers or ()).get("ce_type") == b"no.oslo.broker.audit-checkpoint.v1":
            out.print(
                f"[dim]checkpoint: {data.get('tree_size')} records sealed, root "
                f"{str(data.get('root_hash'))[:16]}…, key {data.get('key_id')}[/]",
                highlight=False,
            )
            return
        cells = audit_row(data)
        plain = [c.split("]", 1)[-1].removesuffix("[/]") if c.startswith("[") else c for c in cells]
        out.print(" ".join(c.ljust(w) for c, w in zip(plain, widths, strict=True)), highlight=False)

    asyncio.run(
        follow(
            [s.topics.audit],
            show,
            max_records,
            idle_timeout,
            from_beginning,
            principal=Principals().auditor,
        )
    )


# --- keys, witness, origin -----------------------------------------------------------------


def origin_of(s: Settings) -> str:
    """The log's name, signed into every checkpoint so one log's cannot pass for another's."""
    return f"oslo-share-broker/{s.topics.audit}"


def signing_key_path(s: Settings) -> Path:
    return Path(os.environ.get("BROKER_AUDIT_KEY_FILE", s.state_dir / "keys" / "audit-signing.pem"))


def witness_path(s: Settings) -> Path:
    """One witness file per audit log (topic), so two deployments never mix checkpoints."""
    default = s.state_dir / "audit" / f"{s.topics.audit}.witness.jsonl"
    return Path(os.environ.get("BROKER_AUDIT_WITNESS", default))


def store_target(s: Settings) -> str:
    return os.environ.get("BROKER_AUDIT_STORE", str(s.state_dir / "audit" / "audit.sqlite"))


def signing_key(s: Settings, create: bool = True) -> Ed25519PrivateKey | None:
    """The sealer's Ed25519 key: created 0600 on first use, like the subject key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = signing_key_path(s)
    if not path.exists():
        if not create:
            return None
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        create_secret_file(path, pem)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        fail(f"{path}: not an Ed25519 private key")
    assert isinstance(key, Ed25519PrivateKey)
    return key


def writer_key(s: Settings, writer: str) -> SigningKey:
    """This writer's audit-writer key (broker.core.audit.writers), loaded at start: without it the
    command stops with a ConfigError saying how to create it, before anything is written."""
    from broker.adapters.stores.keyfiles import load_registry
    from broker.adapters.stores.keyfiles import writer_key as load_writer_key

    paths = s.key_paths()
    return load_writer_key(paths, load_registry(paths.registry), writer)


def registry_of(s: Settings) -> Registry:
    """The key registry: verification checks every audit message's writer against it."""
    from broker.adapters.stores.keyfiles import load_registry

    return load_registry(s.key_paths().registry)


def trusted(s: Settings, extra: list[Path] | None) -> dict[str, Ed25519PublicKey]:
    """Keys whose checkpoints count: the ones given (--trust), else this host's sealing key."""
    from broker.core.audit import load_public_pem, trusted_keys

    keys = [load_public_pem(p.read_bytes()) for p in extra or []]
    if not keys:
        own = signing_key(s, create=False)
        if own is None:
            fail(
                "no trusted key: pass --trust PUBLIC.pem (from `broker audit pubkey`) "
                f"or run where the sealing key is ({signing_key_path(s)})"
            )
        assert own is not None
        keys = [own.public_key()]
    return trusted_keys(*keys)


def read_witness(path: Path | None) -> list[Checkpoint]:
    """The witness file: one checkpoint per line. A line that does not parse stops everything."""
    from broker.core.audit import AuditError, Checkpoint

    if path is None or not path.exists():
        return []
    cps = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            cps.append(Checkpoint.from_json(line))
        except AuditError as exc:
            fail(f"{path}:{n}: {exc}", 1)
    return cps


def append_witness(path: Path, cp: Checkpoint) -> None:
    """Append-only and flushed to disk before the checkpoint is published."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, cp.to_json() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)


# --- reading the audit topic in order ------------------------------------------------------


async def read_topic(
    s: Settings,
    start: int = 0,
    follow_on: bool = False,
    poll: float = 0.5,
    principal: str = Principals().auditor,
) -> AsyncIterator[tuple[list[Entry], int, int]]:
    """Yield (entries, position, end offset at start) batches from ``start``, in order. Stop at
    the end offset seen when starting unless ``follow_on`` (then yield empty batches when idle,
    so a caller can act on time)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from broker.core.audit import Entry

    consumer = AIOKafkaConsumer(
        bootstrap_servers=s.bootstrap,
        enable_auto_commit=False,
        isolation_level="read_committed",
        max_partition_fetch_bytes=4 * 1024 * 1024,
        **client_options(principal),
    )
    await consumer.start()
    try:
        tp = TopicPartition(s.topics.audit, 0)
        consumer.assign([tp])
        consumer.seek(tp, start)
        end = (await consumer.end_offsets([tp]))[tp]
        while True:
            position = await consumer.position(tp)
            if position >= end and not follow_on:
                return
            batch = await consumer.getmany(tp, timeout_ms=int(poll * 1000), max_records=2000)
            entries = [
                Entry(
                    r.offset,
                    dict(r.headers or ()).get("ce_type", b"").decode(),
                    r.value or b"",
                    tuple((k, v or b"") for k, v in r.headers or ()),
                )
                for r in batch.get(tp, [])
            ]
            yield entries, await consumer.position(tp), end
    finally:
        await consumer.stop()


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


def _fail_fault(report: Report, where: str, code: int = 1) -> None:
    """Name the fault and every unattributed message (not signed by an entitled writer)."""
    from broker.core.audit.verify import FaultKind

    cause = report.fault.kind if report.fault is not None else FaultKind.unattributed
    err.print(f"[bold red]{where} does not verify[/] (cause: {cause})", highlight=False)
    for fault in [*([report.fault] if report.fault else []), *report.unattributed]:
        err.print(f"[bold]{fault.kind}[/]: {fault.where()}", highlight=False)
        err.print(f"  {fault.detail}", highlight=False)
    if report.unattributed_count > len(report.unattributed):
        more = report.unattributed_count - len(report.unattributed)
        err.print(f"… and {more} more unattributed message(s)", highlight=False)
    raise typer.Exit(code)


def _fail_columns(tampered: list[Any], where: str, shown: int = 20) -> None:
    """Exit 1 naming the rows whose index columns disagree with their record bytes."""
    err.print(f"[bold red]{where} does not verify[/]", highlight=False)
    for t in tampered[:shown]:
        err.print(f"[bold]column-mismatch[/]: {t.where()}", highlight=False)
        err.print(
            f"  stored column(s) {', '.join(t.columns)} disagree with the record's bytes",
            highlight=False,
        )
    if len(tampered) > shown:
        err.print(f"… and {len(tampered) - shown} more row(s)", highlight=False)
    raise typer.Exit(1)


def _warn_tampered(tampered: list[Any], shown: int = 5) -> None:
    """Rows a query selected whose columns disagree with their bytes: named, never shown."""
    if not tampered:
        return
    err.print(
        f"[bold red]{len(tampered)} row(s) of the store disagree with their record bytes; "
        "left out (run `broker audit verify --from store`)[/]",
        highlight=False,
    )
    for t in tampered[:shown]:
        err.print(f"  {t}", highlight=False)


def _report_table(report: Report, where: str) -> Table:
    t = Table("", "", title=where, show_header=False)
    latest = report.latest
    for name, value in (
        ("records", report.records),
        ("checkpoints on the log", report.checkpoints),
        ("witness copies", report.witnessed),
        ("sealed records", report.sealed),
        ("unattributed messages", report.unattributed_count),
        ("unsealed records", report.unsealed),
        ("latest checkpoint", f"{latest.tree_size} records at {latest.time}" if latest else "-"),
        ("root hash", latest.root_hash if latest else "-"),
        ("signed by key", latest.key_id if latest else "-"),
    ):
        t.add_row(name, str(value))
    return t


TrustOpt = Annotated[
    list[Path] | None,
    typer.Option("--trust", help="a public key (PEM) whose checkpoints count; repeatable"),
]
WitnessOpt = Annotated[
    Path | None,
    typer.Option(help="witness file of checkpoints kept outside Kafka [default: state dir]"),
]
StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="SQLite file or postgresql:// URL [default: $BROKER_AUDIT_STORE or state dir]",
    ),
]


# --- sealing -------------------------------------------------------------------------------


@app.command("pubkey")
def pubkey() -> None:
    """Print the checkpoint-signing public key (PEM) for auditors and witnesses."""
    from broker.core.audit import key_id, public_pem

    key = signing_key(settings())
    assert key is not None
    err.print(f"key id {key_id(key.public_key())}", highlight=False)
    sys.stdout.write(public_pem(key.public_key()).decode())


@app.command("seal")
def seal(
    every: Annotated[int, typer.Option(help="seal after this many new records")] = 1000,
    interval: Annotated[float, typer.Option(help="or after this many seconds")] = 10.0,
    witness: WitnessOpt = None,
    once: Annotated[bool, typer.Option(help="catch up, seal what is pending, exit")] = False,
) -> None:
    """Follow the audit topic in order; publish a signed checkpoint every N records or T seconds.

    Run one sealer per audit topic. It re-reads the topic from the start, verifying every
    checkpoint already there and the witness file, and refuses to seal a log that does not
    verify. Each checkpoint is appended to the witness file before it is published.
    """
    from broker.adapters import logs
    from broker.adapters.kafka.clients import ensure_topics, producer, send_all, wait_for_kafka
    from broker.core.audit import CHECKPOINT_TYPE, AuditError, Sealer, ce_headers
    from broker.core.deployment.topics import topic_specs
    from broker.core.pipeline import OutMessage

    logs.configure("info")
    import structlog

    from broker.core.audit import writers

    log = structlog.get_logger("broker.core.audit.seal")
    s = settings()
    writer = writer_key(s, writers.SEALER)  # signs each checkpoint message as the sealer's
    key = signing_key(s)
    assert key is not None
    wpath = witness or witness_path(s)
    sealer = Sealer(
        key,
        origin_of(s),
        every=every,
        interval=timedelta(seconds=interval),
        witness=read_witness(wpath),
    )
    stop = asyncio.Event()

    async def publish(p: Any, cp: Checkpoint) -> None:
        append_witness(wpath, cp)
        headers = ce_headers(CHECKPOINT_TYPE, f"{cp.origin}/{cp.tree_size}", datetime.now(UTC))
        value = cp.to_json()
        headers = writers.sign(headers, value, writer)
        await send_all(p, [OutMessage(s.topics.audit, None, value, headers)])
        log.info(
            "audit.sealed",
            tree_size=cp.tree_size,
            root=cp.root_hash[:16],
            added=cp.tree_size - cp.hints_from,
        )

    who = Principals().sealer

    async def run() -> None:
        await wait_for_kafka(s.bootstrap, timeout=300, principal=who)
        specs = [t for t in topic_specs(s.topics, []) if t.name == s.topics.audit]
        await ensure_topics(s.bootstrap, specs, principal=who)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        caught_up = False
        async with producer(s.bootstrap, principal=who) as p:
            async for entries, position, end in read_topic(s, 0, follow_on=True, principal=who):
                for entry in entries:
                    sealer.add(entry)
                if not caught_up and position >= end:
                    caught_up = True
                    log.info("audit.sealer_ready", records=sealer.size, pending=sealer.pending)
                # --once seals whatever is pending, however recent the last checkpoint: what
                # runs next (the demo, the drills) verifies strictly
                now = datetime.now(UTC)
                if caught_up and (sealer.due(now) or (once and sealer.pending > 0)):
                    await publish(p, sealer.seal(now))
                if stop.is_set() or (once and caught_up):
                    break

    try:
        asyncio.run(run())
    except AuditError as exc:
        fail(str(exc), 1)


# --- syncing and verifying -----------------------------------------------------------------


@app.command("sync")
def sync(
    store: StoreOpt = None,
    witness: WitnessOpt = None,
    trust: TrustOpt = None,
) -> None:
    """Copy the audit topic into the auditor store, verifying as it goes (idempotent).

    Stops at the first inconsistency with exit status 1, naming the record and the fault;
    nothing after it is written.
    """
    from broker.adapters.stores.auditor import AuditStore, Syncer
    from broker.core.audit import writers

    s = settings()
    keys = trusted(s, trust)
    registry = registry_of(s)
    with AuditStore.open(store or store_target(s)) as st:
        if st.meta("origin") not in (None, origin_of(s)):
            fail(f"{st.where} holds the log '{st.meta('origin')}', not '{origin_of(s)}'")
        syncer = Syncer(st, keys, origin_of(s), read_witness(witness or witness_path(s)))
        start = st.next_offset()
        complete = False
        with _progress() as progress:
            task = progress.add_task("re-verifying the store", total=st.count())
            fault = syncer.check_stored()
            progress.update(task, completed=st.count())
            tampered = st.column_faults() if fault is None else []
            if tampered:
                _fail_columns(tampered, f"audit store {st.where}")
            if fault is None:

                async def go() -> bool:
                    """Sync the topic; False at a fault or at a message no entitled writer
                    signed: it is named, never written, and nothing after it is."""
                    t = progress.add_task("syncing the audit topic", total=None)
                    async for entries, position, end in read_topic(s, start):
                        progress.update(t, total=end - start, completed=position - start)
                        n = next(
                            (i for i, e in enumerate(entries) if writers.check(e, registry)),
                            len(entries),
                        )
                        if syncer.add(entries[:n]):
                            return False
                        if n < len(entries):
                            syncer.verifier.registry = registry  # to name it in the report
                            syncer.verifier.add(entries[n])
                            return False
                    return True

                # each message's writer is checked as it is synced (and again, from the headers
                # the store keeps, by `verify --from store` and the page)
                complete = asyncio.run(go())
        st.set_meta("origin", origin_of(s))
        st.conn.commit()
        report = syncer.finish() if fault is None and complete else syncer.verifier.report
        if not report.ok:
            _fail_fault(report, f"audit log (sync into {st.where})")
        out.print(_report_table(report, st.where))
        out.print(f"{syncer.written} new message(s) written; next offset {st.next_offset()}")


EXIT_TAMPERED = 1  # the log contradicts its checkpoints (or a checkpoint is not genuine)
EXIT_UNPROVEN = 3  # nothing contradicts the log, but nothing proves all of it either


def iter_witness(path: Path) -> Iterator[Checkpoint]:
    """The witness file read lazily, line by line (the verifier keeps none of it)."""
    from broker.core.audit import AuditError, Checkpoint

    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield Checkpoint.from_json(line)
            except AuditError as exc:
                fail(f"{path}:{n}: {exc}", 1)


def verify_summary(report: Report, where: str, witness: Path | None) -> dict[str, Any]:
    """What was verified, or why not: the --json output, and what the text output says."""
    from broker.core.audit.verify import UNPROVEN

    fault, latest = report.fault, report.latest
    if fault is None and report.unattributed:
        fault = report.unattributed[0]  # a forged message is tampering
    code = 0 if fault is None else EXIT_UNPROVEN if fault.kind in UNPROVEN else EXIT_TAMPERED
    return {
        "ok": fault is None,
        "cause": None if fault is None else str(fault.kind),
        "unattributed": report.unattributed_count,
        "exit": code,
        "source": where,
        "fault": None
        if fault is None
        else {
            "kind": str(fault.kind),
            "where": fault.where(),
            "detail": fault.detail,
            "index": fault.index,
            "offset": fault.offset,
            "record_id": fault.record_id,
            "checkpoint_offset": fault.checkpoint_offset,
        },
        "records": report.records,
        "sealed": report.sealed,
        "unsealed": report.unsealed,
        "sealed_through_offset": report.sealed_offset,
        "checkpoints": report.checkpoints,
        "checkpoint": None if latest is None else latest.summary(),
        "key_ids": sorted(report.key_ids),
        "witness": None if witness is None else {"file": str(witness), "copies": report.witnessed},
    }


@app.command("verify")
def verify(
    source: Annotated[
        str, typer.Option("--from", help="'topic', 'store', or a dump file (JSON lines)")
    ] = "topic",
    store: StoreOpt = None,
    witness: WitnessOpt = None,
    trust: TrustOpt = None,
    allow_unsealed: Annotated[
        bool,
        typer.Option(
            "--allow-unsealed", help="accept records after the last checkpoint (and count them)"
        ),
    ] = False,
    no_witness: Annotated[
        bool,
        typer.Option("--no-witness", help="verify without a witness file (cannot see truncation)"),
    ] = False,
    no_writers: Annotated[
        bool,
        typer.Option(
            "--no-writers",
            help="do not check who wrote each message (a log from before writers signed)",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
) -> None:
    """Verify the audit log: exit 0 only if every record is proven by a signed checkpoint.

    Checks every record against the signed checkpoints (from the topic, the store or a dump)
    and against the witness file's copies, which catch a rewritten or truncated topic. Exit 1:
    the log contradicts a checkpoint (edited, missing, inserted, reordered, truncated, forked,
    bad-signature, malformed), naming the first bad record. Exit 3: nothing proves it all
    (unsealed-records, no-checkpoints, witness-missing, witness-empty). Memory stays flat.
    """
    from broker.core.audit import Verifier

    s = settings()
    keys = trusted(s, trust)
    wpath = None if no_witness else (witness or witness_path(s))
    path = Path(source)
    if source not in ("topic", "store") and not path.exists():
        fail(f"--from: '{source}' is not 'topic', 'store' or an existing dump file")
    where = {"topic": f"topic {s.topics.audit}", "store": "store"}.get(source, f"dump {path}")
    tampered: list[Any] = []
    # every message's writer is checked against the key registry (the store keeps each
    # message's headers, which carry its writer's signature)
    registry = None if no_writers else registry_of(s)

    def one_pass(keep: tuple[int, int] | None) -> Report:
        nonlocal where
        cps = iter_witness(wpath) if wpath is not None and wpath.exists() else None
        v = Verifier(
            keys,
            origin_of(s),
            () if wpath is None else cps,
            allow_unsealed=allow_unsealed,
            require_witness=wpath is not None,
            keep=keep,
            registry=registry,
        )
        again = "" if keep is None else " again, to name the record"
        with _progress() as progress:
            if source == "topic":

                async def go() -> None:
                    t = progress.add_task(f"verifying the audit topic{again}", total=None)
                    async for entries, position, end in read_topic(s):
                        progress.update(t, total=end, completed=position)
                        for e in entries:
                            if v.add(e):
                                return

                asyncio.run(go())
            elif source == "store":
                from broker.adapters.stores.auditor import AuditStore

                with AuditStore.open(store or store_target(s)) as st:
                    where = f"store {st.where}"
                    t = progress.add_task(f"verifying the store{again}", total=st.count())
                    for e in st.entries():
                        progress.advance(t)
                        if v.add(e):
                            break
                    tampered[:] = st.column_faults()
            else:
                for e in read_dump(path):
                    if v.add(e):
                        break
        return v.finish()

    report = one_pass(None)
    if report.fault is not None and report.fault.recheck is not None:
        report = one_pass(report.fault.recheck)  # every source can be read again
    summary = verify_summary(report, where, wpath)
    if as_json:
        print(json.dumps(summary))
        raise typer.Exit(summary["exit"])
    if report.fault or report.unattributed_count:
        _fail_fault(report, where, summary["exit"])
    if tampered:  # the index columns queries select on must say what the verified bytes say
        _fail_columns(tampered, where)
    _print_verified(report, where, wpath, attributed=registry is not None)


def _print_verified(report: Report, where: str, wpath: Path | None, *, attributed: bool) -> None:
    """What was verified: up to which record, against which checkpoint, keys and witness, and
    whether the writer of every message was checked."""
    out.print(_report_table(report, where))
    if attributed:
        out.print("[green]attributed[/]: an entitled writer signed every message", highlight=False)
    else:
        out.print("[yellow]writers not checked (--no-writers)[/]", highlight=False)
    latest = report.latest
    if latest is None:
        out.print("[green]verified[/]: the log is empty", highlight=False)
        return
    w = "no witness (--no-witness)" if wpath is None else f"witness {wpath} ({report.witnessed})"
    ids = ", ".join(sorted(report.key_ids))
    out.print(
        f"[green]verified[/]: records #0–#{report.sealed - 1} (through offset "
        f"{report.sealed_offset}) against checkpoint {latest.tree_size} (root "
        f"{latest.root_hash}, {latest.time}), signed by key(s) {ids}; {w}",
        highlight=False,
    )
    if report.unsealed:
        out.print(
            f"[yellow]unsealed-records (allowed): {report.unsealed} record(s) after the last "
            "checkpoint are not verified[/]",
            highlight=False,
        )


@app.command("dump")
def dump(file: Annotated[Path, typer.Argument(help="output file (JSON lines)")]) -> None:
    """Write the audit topic to a file, one message per line, for offline verification."""
    import base64

    s = settings()
    n = 0

    async def go() -> None:
        nonlocal n
        with file.open("w", encoding="utf-8") as fh:
            async for entries, _, _ in read_topic(s):
                for e in entries:
                    line = {
                        "offset": e.offset,
                        "ce_type": e.ce_type,
                        "value": base64.b64encode(e.value).decode(),
                        "headers": [[k, base64.b64encode(v).decode()] for k, v in e.headers or ()],
                    }
                    fh.write(json.dumps(line) + "\n")
                    n += 1

    asyncio.run(go())
    out.print(f"wrote {n} message(s) of {s.topics.audit} to {file}")


def read_dump(path: Path) -> Iterator[Entry]:
    import base64

    from broker.core.audit import Entry

    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            try:
                d = json.loads(line)
                headers = d.get("headers")  # absent in a dump written before writers signed
                yield Entry(
                    int(d["offset"]),
                    str(d["ce_type"]),
                    base64.b64decode(d["value"]),
                    None
                    if headers is None
                    else tuple((str(k), base64.b64decode(v)) for k, v in headers),
                )
            except (ValueError, KeyError, TypeError):
                fail(f"{path}:{n}: not a dump line (offset, ce_type, value, headers)", 1)


# --- proofs --------------------------------------------------------------------------------


def _load_tree(st: AuditStore) -> tuple[Any, list[Checkpoint], dict[str, tuple[int, bytes]]]:
    """The store's Merkle tree, its checkpoints and record id -> (index, value)."""
    from broker.core.audit import AuditError, Checkpoint, MerkleTree, record_id_of

    tree, cps, ids = MerkleTree(), [], {}
    for e in st.entries():
        if e.is_checkpoint:
            try:
                cps.append(Checkpoint.from_json(e.value))
            except AuditError:
                continue
        else:
            i = tree.append(e.value)
            rid = record_id_of(e.value)
            if rid and rid not in ids:
                ids[rid] = (i, e.value)
    return tree, cps, ids


@app.command("prove")
def prove(
    record: Annotated[str | None, typer.Option(help="inclusion proof for this record id")] = None,
    old: Annotated[int | None, typer.Option("--old", help="consistency: older tree size")] = None,
    new: Annotated[int | None, typer.Option("--new", help="consistency: newer tree size")] = None,
    store: StoreOpt = None,
) -> None:
    """Print a proof bundle (JSON) from the store, to check offline with `check-proof`."""
    from broker.adapters.stores.auditor import AuditStore
    from broker.core.audit.proofs import consistency_bundle, inclusion_bundle

    s = settings()
    with AuditStore.open(store or store_target(s)) as st:
        tree, cps, ids = _load_tree(st)
    if not cps:
        fail("the store holds no checkpoint yet (run `broker audit seal` and `sync`)")
    by_size = {cp.tree_size: cp for cp in cps}
    if record is not None:
        if record not in ids:
            fail(f"--record: no audit record {record} in the store")
        index, value = ids[record]
        cp = next((c for c in sorted(cps, key=lambda c: c.tree_size) if c.tree_size > index), None)
        if cp is None:
            fail(f"--record: record {record} is not sealed yet")
        assert cp is not None
        bundle = inclusion_bundle(tree, index, value, cp)
    elif old is not None and new is not None:
        if old not in by_size or new not in by_size:
            fail(f"--old/--new: checkpoints exist for sizes {', '.join(map(str, sorted(by_size)))}")
        bundle = consistency_bundle(tree, by_size[old], by_size[new])
    else:
        fail("give --record ID, or --old SIZE and --new SIZE")
    print(json.dumps(bundle, indent=2))


@app.command("check-proof")
def check_proof(
    file: Annotated[Path, typer.Argument(help="a bundle from `broker audit prove`", exists=True)],
    trust: TrustOpt = None,
) -> None:
    """Check a proof bundle offline, with the public key alone."""
    from broker.core.audit import AuditError
    from broker.core.audit.proofs import check_bundle

    keys = trusted(settings(), trust)
    try:
        what = check_bundle(json.loads(file.read_text(encoding="utf-8")), keys)
    except (AuditError, ValueError) as exc:
        fail(f"{file}: {exc}", 1)
    out.print(f"[green]valid[/]: {what}", highlight=False)


# --- reading the store ---------------------------------------------------------------------


def _when(text: str | None, name: str) -> datetime | None:
    if text is None:
        return None
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{name}: not an ISO 8601 date or time")
        raise
    return t if t.tzinfo else t.replace(tzinfo=UTC)


@app.command("query")
def query(
    recipient: Annotated[str | None, typer.Option(help="recipient id")] = None,
    legal_basis: Annotated[str | None, typer.Option(help="legal basis id")] = None,
    decision: Annotated[
        str | None, typer.Option(help="deliver, deny, dead-letter or review")
    ] = None,
    notice_id: Annotated[str | None, typer.Option(help="notice id")] = None,
    since: Annotated[
        str | None, typer.Option(help="from this time (ISO 8601, UTC if bare)")
    ] = None,
    until: Annotated[str | None, typer.Option(help="before this time")] = None,
    policy_version: Annotated[str | None, typer.Option(help="policy version")] = None,
    limit: Annotated[int, typer.Option(help="at most this many")] = 500,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines")] = False,
    store: StoreOpt = None,
) -> None:
    """Search the auditor store (run `broker audit sync` first)."""
    from broker.adapters.stores.auditor import AuditStore, Filters

    if decision not in (None, "deliver", "deny", "dead-letter", "review"):
        fail("--decision: must be deliver, deny, dead-letter or review")
    f = Filters(
        recipient=recipient,
        legal_basis=legal_basis,
        decision=decision,
        notice_id=notice_id,
        since=_when(since, "--since"),
        until=_when(until, "--until"),
        policy_version=policy_version,
        limit=limit,
    )
    with AuditStore.open(store or store_target(settings())) as st:
        docs = st.query(f)
    _warn_tampered(docs.tampered)
    if as_json:
        for d in docs:
            print(json.dumps(d, ensure_ascii=False))
    else:
        out.print(
            audit_table([d for d in docs if d.get("event") != "review"], f"{len(docs)} record(s)")
        )
    if docs.tampered:
        raise typer.Exit(1)


@app.command("subject")
def subject(
    national_id: Annotated[str, typer.Option(help="the person's national id number (not stored)")],
    fmt: Annotated[str, typer.Option("--format", help="markdown, html or json")] = "markdown",
    output: Annotated[Path | None, typer.Option(help="write to this file")] = None,
    store: StoreOpt = None,
) -> None:
    """The data-subject access report: every disclosure about one person."""
    from broker.adapters.stores.auditor import AuditStore, Filters
    from broker.core import national_id as nid
    from broker.core.audit.report import subject_report, to_html, to_markdown
    from broker.core.crypto import refs

    if fmt not in ("markdown", "html", "json"):
        fail("--format: must be markdown, html or json")
    try:
        number = nid.validate(national_id.strip())
    except ValueError as exc:
        fail(f"--national-id: {exc}")
        raise
    s = settings()
    ref = refs.subject_ref(s.subject_key(), number)
    with AuditStore.open(store or store_target(s)) as st:
        docs = st.query(Filters(subject_ref=ref))
    if docs.tampered:
        _fail_columns(docs.tampered, f"audit store {st.where}")
    report = subject_report(docs, datetime.now(UTC))
    text = {"markdown": to_markdown, "html": to_html, "json": lambda r: r.to_json() + "\n"}[fmt](
        report
    )
    if output:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {len(report.disclosures)} disclosure(s) to {output}")
    else:
        sys.stdout.write(text)


@app.command("stats")
def stats(store: StoreOpt = None) -> None:
    """Counts: by event, by recipient and decision, by legal basis; reviews pending."""
    from broker.adapters.stores.auditor import AuditStore

    with AuditStore.open(store or store_target(settings())) as st:
        data = st.stats()
        where = st.where
    out.print(
        f"[bold]{where}[/]: {data['entries']} message(s), {data['first'] or '-'} … "
        f"{data['last'] or '-'}; {data['pending_reviews']} review(s) pending "
        "(counted from the record bytes)",
        highlight=False,
    )
    t = Table("event", "count", title="by event")
    for name, n in data["by_event"]:
        t.add_row(
            "checkpoint" if name == "no.oslo.broker.audit-checkpoint.v1" else str(name), str(n)
        )
    out.print(t)
    t = Table("recipient", "decision", "count", title="decisions by recipient")
    for r, o, n in data["by_recipient"]:
        t.add_row(str(r), str(o), str(n))
    out.print(t)
    t = Table("legal basis", "deliveries", title="deliveries by legal basis")
    for b, n in data["by_legal_basis"]:
        t.add_row(str(b), str(n))
    out.print(t)
    if data["tampered"]:
        _warn_tampered(data["tampered"])
        raise typer.Exit(1)


@app.command("review")
def review(
    record: Annotated[str | None, typer.Option(help="the record id reviewed")] = None,
    reviewer: Annotated[str | None, typer.Option(help="who reviewed it")] = None,
    note: Annotated[
        str | None, typer.Option(help="the review's conclusion (no personal data)")
    ] = None,
    store: StoreOpt = None,
) -> None:
    """List urgent disclosures awaiting review; with --record, record a review in the audit log."""
    from broker.adapters.kafka.clients import producer, send_all
    from broker.adapters.stores.auditor import AuditStore
    from broker.core.audit import REVIEW_TYPE, AuditError, ce_headers, review_event, writers
    from broker.core.pipeline import OutMessage

    s = settings()
    key = writer_key(s, writers.REVIEWER) if record is not None else None
    with AuditStore.open(store or store_target(s)) as st:
        if record is None:
            pending = st.pending_reviews()
            out.print(audit_table(pending, f"{len(pending)} urgent disclosure(s) awaiting review"))
            t = Table("record id", "recorded")
            for d in pending:
                t.add_row(str(d.get("record_id")), str(d.get("recorded_at")))
            out.print(t)
            return
        try:
            reviewed = st.record(record)
        except AuditError as exc:
            fail(f"--record: {exc}", 1)
            raise
    if reviewed is None:
        fail(f"--record: no audit record {record} in the store (run `broker audit sync`)")
    assert reviewed is not None
    if not reviewed.get("review_required"):
        fail(f"--record: record {record} is not marked for review")
    if not reviewer or not note:
        fail("--reviewer and --note are required to record a review")
    assert reviewer is not None
    assert note is not None
    now = datetime.now(UTC)
    try:
        rid, value = review_event(record, reviewer, note, now)
    except ValueError as exc:
        fail(str(exc))
        raise

    async def go() -> None:
        async with producer(s.bootstrap, principal=Principals().reviewer) as p:
            assert key is not None
            headers = writers.sign(ce_headers(REVIEW_TYPE, rid, now), value, key)
            await send_all(p, [OutMessage(s.topics.audit, None, value, headers)])

    asyncio.run(go())
    out.print(f"review {rid} of record {record} published to {s.topics.audit}")


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="address to listen on (keep it local)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8087,
    store: StoreOpt = None,
    witness: WitnessOpt = None,
    trust: TrustOpt = None,
    credentials_dir: Annotated[
        Path | None,
        typer.Option(
            help="the CA and the page's certificate [default: $BROKER_KAFKA_CREDENTIALS_DIR]"
        ),
    ] = None,
    access_log: Annotated[
        Path | None,
        typer.Option(help="the page's own access log [default: state dir/audit/web-access.jsonl]"),
    ] = None,
) -> None:
    """The auditors' web page: search, subject report, chain status, disclosures chart.

    HTTPS only, and only for auditors: the browser must present a client certificate from the
    project CA whose CN is an auditor principal (`auditor` or `auditor.<name>`). The page's
    server certificate (audit-web) is issued from the same CA if missing. Every view, search
    and subject lookup is written to the access log (0600, append-only, hash-chained) before
    it is answered. Reads the auditor store (keep `broker audit sync` running or rerun it).
    """
    from aiohttp import web

    from broker.adapters.kafka.security import (
        WEB_SERVER,
        Credentials,
        ensure_web_credentials,
        server_context,
    )
    from broker.adapters.stores.accesslog import AccessLog
    from broker.core.crypto import refs
    from broker.core.errors import ConfigError
    from broker.services.web.app import Config, create_app

    s = settings()
    key = s.subject_key()
    wpath = witness or witness_path(s)
    creds = credentials_dir or s.kafka.credentials_dir
    try:
        if ensure_web_credentials(creds):
            issued = Credentials(creds, WEB_SERVER).cert
            err.print(f"issued the page's certificate {issued}", highlight=False)
        tls = server_context(creds, WEB_SERVER)
    except ConfigError as exc:
        fail(str(exc))
        raise
    log = AccessLog(access_log or s.state_dir / "audit" / "web-access.jsonl")
    hosts = {f"{host}:{port}", f"127.0.0.1:{port}", f"localhost:{port}"}
    if port == 443:
        hosts |= {host, "127.0.0.1", "localhost"}
    config = Config(
        store=store or store_target(s),
        trusted=trusted(s, trust),
        origin=origin_of(s),
        witness=lambda: read_witness(wpath),
        subject_ref=lambda number: refs.subject_ref(key, number),
        hosts=frozenset(hosts),
        access=log.record,
        registry=lambda: registry_of(s),
    )
    err.print(
        f"auditor page on https://{host}:{port}/ (store {config.store}; client certificate "
        f"required; access log {log.path})",
        highlight=False,
    )
    try:
        web.run_app(
            create_app(config),
            host=host,
            port=port,
            ssl_context=tls,
            print=None,
            access_log=None,
        )
    finally:
        log.close()


# --- the access log: delivered → received → opened ---------------------------------------


@app.command("receipt")
def receipt_command(
    delivery_id: Annotated[str, typer.Argument(help="the delivery's id")],
    recipient: Annotated[str, typer.Option(help="the recipient reporting (its receipts topic)")],
    state: Annotated[str, typer.Option(help="received or opened")] = "received",
) -> None:
    """Recipients' systems: report that a delivery was received or opened."""
    from broker.adapters.kafka.clients import producer, send_all
    from broker.core.audit.access import RECEIPT_TYPE, State, receipt
    from broker.core.audit.events import ce_headers
    from broker.core.pipeline import OutMessage

    if state not in {x.value for x in State}:
        fail("--state: must be received or opened")
    s = settings()
    now = datetime.now(UTC)
    try:
        rid, value = receipt(delivery_id, State(state), now)
    except ValueError as exc:
        fail(str(exc))
        raise
    topic = s.topics.receipts(recipient)

    async def go() -> None:
        async with producer(s.bootstrap, principal=Principals.recipient(recipient)) as p:
            await send_all(p, [OutMessage(topic, None, value, ce_headers(RECEIPT_TYPE, rid, now))])

    asyncio.run(go())
    out.print(f"{state} receipt for delivery {delivery_id} published to {topic}", highlight=False)


def _receipt_rejected(
    value: bytes, recipient: str, source: str, now: datetime, exc: Exception
) -> tuple[str, bytes]:
    """(record id, value) of the audit event for a receipt that is not valid."""
    from broker.core.audit.events import canonical
    from broker.core.crypto import refs

    digest = refs.sha256_hex(value)
    rid = refs.stable_id("receipt-rejected", source, digest)
    return rid, canonical(
        {
            "record_id": rid,
            "event": "receipt-rejected",
            "recorded_at": now.isoformat().replace("+00:00", "Z"),
            "recipient": recipient,
            "source": source,
            "reasons": [str(exc)],
            "input_sha256": digest,
        }
    )


@app.command("relay-receipts")
def relay_receipts(
    idle_timeout: IdleOpt = None,
) -> None:
    """Operators: copy recipients' receipts into the audit log (run beside the worker).

    The recipient is the one whose receipts topic the receipt came from. A receipt that is not
    valid is not dropped: a receipt-rejected audit event names the field and the reason.
    """
    from aiokafka import AIOKafkaConsumer

    from broker.adapters.kafka.clients import ensure_topics, producer, send_all
    from broker.adapters.policy_files import load_policy
    from broker.core.audit import AuditError, ce_headers, writers
    from broker.core.audit.access import AUDIT_RECEIPT_TYPE, audit_event
    from broker.core.deployment.topics import SHORT_LIVED, TopicSpec
    from broker.core.pipeline import OutMessage

    s = settings()
    key = writer_key(s, writers.RELAY)  # signs every relayed receipt as the relay's
    recipients = sorted(load_policy(s.policy_dir).recipients)
    topics = {s.topics.receipts(r): r for r in recipients}
    n = 0

    def relayed(record: Any, now: datetime) -> OutMessage:
        rcpt = topics[record.topic]
        source = f"{record.topic}/{record.partition}/{record.offset}"
        try:
            rid, value = audit_event(record.value or b"", rcpt, source, now)
        except AuditError as exc:
            rid, value = _receipt_rejected(record.value or b"", rcpt, source, now, exc)
        headers = writers.sign(ce_headers(AUDIT_RECEIPT_TYPE, rid, now), value, key)
        return OutMessage(s.topics.audit, None, value, headers)

    async def go() -> None:
        nonlocal n
        specs = [TopicSpec(t, 1, dict(SHORT_LIVED)) for t in topics]
        relay = Principals().relay
        await ensure_topics(s.bootstrap, specs, principal=relay)
        consumer = AIOKafkaConsumer(
            *topics,
            bootstrap_servers=s.bootstrap,
            group_id=f"{s.app_id}-receipts-relay",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            **client_options(relay),
        )
        await consumer.start()
        last = asyncio.get_running_loop().time()
        try:
            async with producer(s.bootstrap, principal=relay) as p:
                while True:
                    batch = await consumer.getmany(timeout_ms=500, max_records=500)
                    records = [r for rs in batch.values() for r in rs]
                    now_loop = asyncio.get_running_loop().time()
                    if not records:
                        if idle_timeout is not None and now_loop - last > idle_timeout:
                            return
                        continue
                    last = now_loop
                    now = datetime.now(UTC)
                    # in the audit log before the receipts' offsets are committed: at least once
                    await send_all(p, [relayed(r, now) for r in records])
                    await consumer.commit()
                    n += len(records)
        finally:
            await consumer.stop()

    asyncio.run(go())
    out.print(f"relayed {n} receipt(s) into {s.topics.audit}")


@app.command("access")
def access(
    recipient: Annotated[str | None, typer.Option(help="only this recipient's deliveries")] = None,
    within: Annotated[
        float, typer.Option(help="flag deliveries not received within this many minutes")
    ] = 60.0,
    fail_overdue: Annotated[
        bool, typer.Option("--fail-overdue", help="exit 1 if any delivery is overdue")
    ] = False,
    store: StoreOpt = None,
) -> None:
    """The access log: every delivery, when it was received and opened; overdue ones flagged."""
    from broker.adapters.stores.auditor import AuditStore
    from broker.core.audit.access import overdue

    with AuditStore.open(store or store_target(settings())) as st:
        log = st.access_log(recipient)
    now, limit = datetime.now(UTC), timedelta(minutes=within)
    late = {a.delivery_id for a in overdue(log, now, limit)}
    t = Table("delivery", "recipient", "delivered", "received", "opened", "status")
    for a in log:
        if a.delivery_id in late:
            status = f"[red]not received within {within:g} min[/]"
        elif a.opened_at:
            status = "[green]opened[/]"
        elif a.received_at:
            status = "received"
        else:
            status = "[yellow]awaiting receipt[/]"
        t.add_row(
            a.delivery_id[:16],
            a.recipient,
            a.delivered_at[:19],
            (a.received_at or "-")[:19],
            (a.opened_at or "-")[:19],
            status,
        )
    out.print(t)
    out.print(f"{len(log)} delivery(ies), {len(late)} overdue", highlight=False)
    if late and fail_overdue:
        raise typer.Exit(1)
