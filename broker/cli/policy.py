"""`broker policy …`: the lawyers' commands: check, explain, test, report, simulate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from broker.adapters.stores import keyfiles
from broker.cli._common import LangOpt, err, fail, out, settings, translator
from broker.core.errors import PolicyError

app = typer.Typer(
    no_args_is_help=True,
    help="Lawyers: check, explain, test, report on and simulate the policies.",
)

DirOpt = Annotated[
    Path | None, typer.Option("--policies", help="policy directory (default: BROKER_POLICY_DIR)")
]


def _load(directory: Path | None = None) -> Any:
    from broker.adapters.policy_files import load_policy

    try:
        return load_policy(directory or settings().policy_dir)
    except PolicyError as exc:
        err.print(f"[bold red]{exc.file}[/]")
        for problem in exc.problems:
            err.print(f"  - {problem}", highlight=False)
        raise typer.Exit(1) from None


def _read_notice(path: Path) -> tuple[Any, dict[str, Any]]:
    """A notice file, validated: (notice, its JSON document)."""
    from broker.adapters.publisher import load_notice

    notice = load_notice(path)  # BrokerError names the file, field and reason
    return notice, notice.model_dump(mode="json", exclude_none=True)


@app.command("check")
def policy_check(
    policies: DirOpt = None,
    lint: Annotated[
        bool, typer.Option(help="also lint (sampled); --no-lint: validate only")
    ] = True,
    samples: Annotated[int, typer.Option(help="synthetic notices sampled by the lint")] = 5000,
    strict: Annotated[
        bool,
        typer.Option(
            help="exit 1 on warnings and failing policy test cases too: the worker's start-up gate"
        ),
    ] = False,
) -> None:
    """Validate policies/ (exits 1 naming the file and the problem), prove the invariants
    (exits 2 naming the invariant, rule and field), then lint it."""
    policy = _load(policies)
    out.print(
        f"policies OK: {len(policy.legal_bases)} legal bases, {len(policy.recipients)} "
        f"recipients, {len(policy.rules)} rules; version {policy.version}"
    )
    if not lint:
        _invariants(policy)
        return
    from broker.adapters.policy_files import case_folder
    from broker.core.policy.gate import assess
    from broker.core.policy.lint import Severity

    with out.status(f"linting on {samples} synthetic notices…"):
        assessment = assess(policy, case_folder(policy), samples=samples)
    findings = assessment.findings
    table = Table("severity", "subject", "code", "finding", title="lint")
    colour = {Severity.error: "red", Severity.warning: "yellow", Severity.info: "dim"}
    for f in findings:
        table.add_row(f"[{colour[f.severity]}]{f.severity}[/]", f.subject, f.code, f.message)
    out.print(table)
    warnings = sum(f.severity is not Severity.info for f in findings)
    out.print(f"{warnings} warning(s), {len(findings) - warnings} note(s)")
    _invariants(policy)
    if strict:
        problems = assessment.problems
        for problem in problems:
            err.print(f"  - {problem}", highlight=False)
        if problems:
            err.print(f"[bold red]gate closed:[/] {len(problems)} problem(s)", highlight=False)
            raise typer.Exit(1)
        out.print("gate open: no warnings, every policy test case passes")


def _invariants(policy: Any) -> None:
    """Every invariant over every allow rule: exit 2 naming each violation, if any."""
    from broker.core.policy.invariants import check

    violations = check(policy)
    for v in violations:
        err.print(f"  - {v}", highlight=False)
    if violations:
        err.print(f"[bold red]invariants fail:[/] {len(violations)} violation(s)", highlight=False)
        raise typer.Exit(2)
    out.print(f"invariants hold: {len(policy.invariants)}, proved over every allow rule")


@app.command("explain")
def policy_explain(
    notice_file: Annotated[Path, typer.Argument(help="a notice (JSON)", exists=True)],
    recipient: Annotated[str, typer.Argument(help="recipient id")],
    policies: DirOpt = None,
) -> None:
    """For every field of NOTICE: kept, withheld or transformed for RECIPIENT, by which rule,
    under which legal basis."""
    from broker.core.notices import NOTICE_SENDERS
    from broker.core.paths import leaves
    from broker.core.policy import Facts, decide

    policy = _load(policies)
    if recipient not in policy.recipients:
        fail(f"recipient: unknown recipient '{recipient}' (known: {', '.join(policy.recipients)})")
    notice, doc = _read_notice(notice_file)
    sender = NOTICE_SENDERS[notice.notice_type]
    facts = Facts(policy, notice.notice_type, doc, notice.child_age())
    v = decide(
        policy,
        sender=sender,
        notice_type=notice.notice_type,
        recipient=recipient,
        doc=doc,
        facts=facts,
    )
    verdict = "[green]deliver[/]" if v.outcome.value == "deliver" else "[red]deny[/]"
    out.print(
        f"{sender} → {recipient}, {notice.notice_type} notice: {verdict}"
        + (f" by rule [bold]{v.rule.id}[/]" if v.rule else "")
        + (" [yellow](urgent: review required)[/]" if v.review_required else ""),
        highlight=False,
    )
    # the steps of the very walk that decided (the worker's), not a second walk of the rules
    rules = Table("rule", "effect", "legal basis", "result", title="rules considered, in order")
    for rule, result in v.steps:
        rules.add_row(rule.id, rule.effect.value, rule.legal_basis, result)
    if not rules.rows:
        rules.add_row("-", "-", "-", v.reasons[0] if v.reasons else "no rule")
    out.print(rules)
    basis = (
        f"{v.legal_basis.id}: {v.legal_basis.statute} {v.legal_basis.citation} "
        f"({v.legal_basis.status})"
        if v.legal_basis
        else "-"
    )
    fields = Table("field", "outcome", "rule", "legal basis", title="fields")
    kept = set(v.redacted.kept) if v.redacted else set()
    transformed = v.redacted.transformed if v.redacted else {}
    for path in sorted({p for p, _ in leaves(doc)}):
        if path in transformed:
            fields.add_row(path, f"[cyan]transformed: {transformed[path]}[/]", v.rule.id, basis)  # type: ignore[union-attr]
        elif path in kept:
            fields.add_row(path, "[green]kept[/]", v.rule.id, basis)  # type: ignore[union-attr]
        else:
            why = "not released by the rule" if v.redacted else "no rule applies"
            fields.add_row(path, f"[red]withheld[/] ({why})", v.rule.id if v.rule else "-", "-")
    out.print(fields)


@app.command("test")
def policy_test(
    policies: DirOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="list passing cases")] = False,
) -> None:
    """Run the declarative test cases beside the policies (policies/tests/*.yaml)."""
    from broker.adapters.policy_files import case_folder
    from broker.core.policy.cases import Status, run

    policy = _load(policies)
    result = run(policy, case_folder(policy))
    table = Table("status", "file", "case", "recipient", "problems")
    colour = {Status.passed: "green", Status.failed: "red", Status.error: "magenta"}
    for r in result.results:
        if verbose or r.status is not Status.passed:
            table.add_row(
                f"[{colour[r.status]}]{r.status.value}[/]",
                r.file,
                r.name,
                r.recipient,
                "\n".join(r.problems),
            )
    if table.rows:
        out.print(table)
    untested = sorted({r.id for r in policy.rules} - result.covered())
    counts = {s: sum(r.status is s for r in result.results) for s in Status}
    out.print(
        f"{counts[Status.passed]} passed, {counts[Status.failed]} failed, "
        f"{counts[Status.error]} errors; rules without a deciding case: "
        f"{', '.join(untested) or 'none'}"
    )
    if not result.ok:
        raise typer.Exit(1)


@app.command("report")
def policy_report(
    policies: DirOpt = None,
    output: Annotated[
        Path | None, typer.Option("--out", help="directory for policy-report.md and .html")
    ] = None,
    lang: LangOpt = None,
) -> None:
    """A Markdown and HTML report for lawyers: per recipient, what it gets, under which law
    (bokmål, or English with --lang en)."""
    from broker.core.policy.report import html_report, markdown

    t = translator(lang)
    policy = _load(policies)
    if output is None:
        print(markdown(policy, t))
        return
    output.mkdir(parents=True, exist_ok=True)
    (output / "policy-report.md").write_text(markdown(policy, t), encoding="utf-8")
    (output / "policy-report.html").write_text(html_report(policy, t), encoding="utf-8")
    out.print(f"wrote {output}/policy-report.md and {output}/policy-report.html")


def _docs_from(paths: list[Path]) -> list[dict[str, Any]]:
    """Notices from files: a notice, a JSON array, JSON lines, or directories of them."""
    from pydantic import ValidationError

    from broker.core.envelope import field_problems
    from broker.core.errors import BrokerError
    from broker.core.notices import notice_model

    files: list[Path] = []
    for p in paths:
        files += sorted(p.rglob("*.json*")) if p.is_dir() else [p]
    docs: list[dict[str, Any]] = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        try:
            data = json.loads(text)
            items = data if isinstance(data, list) else [data]
        except json.JSONDecodeError:
            try:  # JSON lines
                items = [json.loads(line) for line in text.splitlines() if line.strip()]
            except json.JSONDecodeError as exc:
                raise BrokerError(f"{path}: not JSON or JSON lines ({exc.msg})") from None
        for i, item in enumerate(items):
            model = notice_model(str(item.get("notice_type"))) if isinstance(item, dict) else None
            if model is None:
                raise BrokerError(f"{path} #{i + 1}: notice_type: unknown notice type")
            try:
                docs.append(model.model_validate(item).model_dump(mode="json", exclude_none=True))
            except ValidationError as exc:
                problems = "; ".join(str(p) for p in field_problems(exc))
                raise BrokerError(f"{path} #{i + 1}: {problems}") from None
    return docs


async def _docs_from_topic(idle_timeout: float, limit: int | None) -> list[dict[str, Any]]:
    from broker.adapters.kafka.clients import consume
    from broker.core import envelope
    from broker.core.crypto import sealing
    from broker.core.errors import NoticeError

    s = settings()
    # notices are sealed to the broker: replaying them needs the broker's inbox key
    paths = s.key_paths()
    registry = keyfiles.load_registry(paths.registry)
    inbox = sealing.NoticeOpener(keyfiles.decryption_keys(paths, registry, sealing.BROKER_INBOX))
    docs: list[dict[str, Any]] = []
    async for record in consume(
        s.bootstrap, [s.topics.notices], from_beginning=True, idle_timeout=idle_timeout
    ):
        headers = envelope.header_map(record.headers)
        try:
            notice = envelope.decode_notice(headers, inbox.open(headers, record.value))
        except (NoticeError, sealing.DecryptionError):
            continue  # dead-lettered by the worker; nothing to simulate
        docs.append(notice.model_dump(mode="json", exclude_none=True))
        if limit is not None and len(docs) >= limit:
            break
    return docs


@app.command("simulate")
def policy_simulate(
    proposed: Annotated[Path, typer.Argument(help="the proposed policy directory")],
    files: Annotated[
        list[Path] | None, typer.Argument(help="notice files or directories", exists=True)
    ] = None,
    generate: Annotated[
        int | None, typer.Option("--generate", help="replay N synthetic notices")
    ] = None,
    topic: Annotated[bool, typer.Option("--topic", help="replay the notices topic")] = False,
    current: Annotated[
        Path | None, typer.Option(help="the current policy directory (default: BROKER_POLICY_DIR)")
    ] = None,
    seed: Annotated[int, typer.Option(help="seed for --generate")] = 0,
    processes: Annotated[int, typer.Option(help="worker processes (default: CPUs)")] = 0,
    all_fields: Annotated[bool, typer.Option("--all", help="list unchanged fields too")] = False,
) -> None:
    """Replay notices through the current and a PROPOSED policy set: per recipient and field,
    what would be disclosed more or less."""
    from broker.core.policy.simulate import report

    cur_dir = current or settings().policy_dir
    cur, prop = _load(cur_dir), _load(proposed)
    if sum([bool(files), generate is not None, topic]) != 1:
        fail("give exactly one of: notice FILES, --generate N, --topic")
    work, jobs, sizes = _simulation_jobs(cur_dir, proposed, files, generate, seed)
    tally = _run_simulation(work, jobs, sizes, processes)
    _print_simulation(report(tally, cur, prop), all_fields)


def _simulation_jobs(
    cur_dir: Path, proposed: Path, files: list[Path] | None, generate: int | None, seed: int
) -> tuple[Any, list[Any], list[int]]:
    """The work function, its chunks of notices (synthetic or read), and each chunk's size."""
    from broker.adapters.policy_files import docs_chunk, generated_chunk

    if generate is not None:
        if generate < 1:
            fail("--generate: must be at least 1")
        size = 25_000
        jobs: list[Any] = [
            (
                str(cur_dir),
                str(proposed),
                seed,
                seed * 1_000_003 + i,
                min(size, generate - i * size),
            )
            for i in range((generate + size - 1) // size)
        ]
        return generated_chunk, jobs, [j[4] for j in jobs]
    import asyncio

    docs = _docs_from(files or []) if files else asyncio.run(_docs_from_topic(5.0, None))
    size = 5_000
    jobs = [(str(cur_dir), str(proposed), docs[i : i + size]) for i in range(0, len(docs), size)]
    return docs_chunk, jobs, [len(j[2]) for j in jobs]


def _run_simulation(work: Any, jobs: list[Any], sizes: list[int], processes: int) -> Any:
    """Run the chunks (in a process pool when there are several), with a progress bar."""
    import multiprocessing
    import os

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from broker.core.policy.simulate import Tally

    tally = Tally()
    n_proc = processes or os.cpu_count() or 1
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    ) as progress:
        task = progress.add_task("simulating", total=sum(sizes))
        if n_proc == 1 or len(jobs) == 1:
            for job, n in zip(jobs, sizes, strict=True):
                tally += work(job)
                progress.advance(task, n)
        else:
            with multiprocessing.get_context("fork").Pool(min(n_proc, len(jobs))) as pool:
                for part in pool.imap_unordered(work, jobs):
                    tally += part
                    progress.advance(task, part.notices + part.skipped)
    return tally


def _print_simulation(result: Any, all_fields: bool) -> None:
    summary = Table(
        "recipient",
        "delivered (current)",
        "delivered (proposed)",
        "change",
        title=f"{result.notices} notices",
    )
    for r, (c, p) in result.deliveries.items():
        summary.add_row(r, str(c), str(p), f"{p - c:+d}" if p != c else "")
    out.print(summary)
    rows = result.fields if all_fields else result.changes
    table = Table(
        "recipient",
        "field",
        "current",
        "proposed",
        "more",
        "less",
        "operator changed",
        title="fields disclosed (notices)",
    )
    for f in rows:
        table.add_row(
            f.recipient,
            f.field,
            str(f.current),
            str(f.proposed),
            f"[red]+{f.more}[/]" if f.more else "",
            f"[green]-{f.less}[/]" if f.less else "",
            str(f.operator_changed) if f.operator_changed else "",
        )
    if rows:
        out.print(table)
    else:
        out.print("no field would be disclosed more or less")
