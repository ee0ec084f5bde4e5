"""`broker audit obligations · inform · letter`: the duties disclosures opened, closing the duty
to inform with a signed event, and the letter to the guardians (broker.core.audit.obligations,
broker.core.audit.inform, broker.core.letter)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from broker.cli._common import LangOpt, err, fail, out, settings, translator
from broker.cli.audit._shared import StoreOpt, publish_reviewer_event, writer_key
from broker.core.i18n import N_

if TYPE_CHECKING:
    from broker.core.audit.obligations import Obligation
    from broker.core.i18n import Translator
    from broker.core.policy.duties import Duty

OSLO = "Europe/Oslo"
NowOpt = Annotated[
    str | None, typer.Option("--now", help="as of this ISO date or time (for testing)")
]


def _instant(text: str, option: str) -> datetime:
    """An ISO date (midnight, Oslo time) or a date and time with a zone."""
    from zoneinfo import ZoneInfo

    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(), ZoneInfo(OSLO))
        when = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{option}: not an ISO 8601 date or date and time")
    if when.tzinfo is None:
        fail(f"{option}: a time needs a zone (e.g. 2026-12-01T09:00+01:00), or give a date")
    return when


_STATES = {"open": N_("open"), "overdue": N_("overdue"), "closed": N_("closed")}
_STYLE = {"open": "yellow", "overdue": "red", "closed": "green"}


def obligations_table(rows: list[Obligation], title: str, t: Translator) -> Table:
    """The obligations in the reader's words: dates in Oslo time, the state in words with its
    code beside it (``open``, ``overdue``, ``closed``: what scripts and the demo look for)."""
    table = Table(
        t.gettext("duty"),
        t.gettext("record"),
        t.gettext("organisation"),
        t.gettext("opened (Oslo time)"),
        t.gettext("due (Oslo time)"),
        t.gettext("state"),
        title=title,
    )
    late = t.gettext("(late)")
    for o in rows:
        words = t.gettext(_STATES[o.state])
        shown = words if words == o.state else f"{words} ({o.state})"
        state = f"[{_STYLE[o.state]}]{shown}[/]" + (f" {late}" if o.late else "")
        table.add_row(
            o.duty,
            o.record_id[:16],
            o.organisation or "-",
            t.when(o.opened_at) if o.opened_at else "-",
            t.when(o.due_at) if o.due_at else "-",
            state,
        )
    return table


def obligations(
    overdue: Annotated[
        bool, typer.Option("--overdue", help="only those past their due time")
    ] = False,
    organisation: Annotated[
        str | None, typer.Option("--organisation", help="only this organisation's (directory id)")
    ] = None,
    show_closed: Annotated[
        bool, typer.Option("--all/--open", help="closed ones too, or only open and overdue")
    ] = False,
    now: NowOpt = None,
    store: StoreOpt = None,
    lang: LangOpt = None,
) -> None:
    """The obligations disclosures opened (duty to inform, child welfare's feedback deadlines):
    open and overdue ones, from the auditor store (run `broker audit sync` first)."""
    from broker.adapters.policy_files import load_policy
    from broker.adapters.stores.auditfiles import store_target
    from broker.adapters.stores.auditor import AuditStore
    from broker.core.audit.obligations import State, ledger

    s = settings()
    at = _instant(now, "--now") if now else datetime.now(UTC)
    policy = load_policy(s.policy_dir)
    with AuditStore.open(store or store_target(s)) as st:
        found = ledger(st.obligation_sources(), policy.duties, at)
    rows = [
        o
        for o in found.obligations
        if (show_closed or o.state is not State.closed)
        and (not overdue or o.state is State.overdue)
        and organisation in (None, o.organisation)
    ]
    t = translator(lang)
    title = t.ngettext(
        "%(n)s obligation as of %(when)s",
        "%(n)s obligations as of %(when)s",
        len(rows),
        when=t.when(at),
    )
    out.print(obligations_table(rows, title, t))
    for problem in found.problems:
        err.print(f"[yellow]problem[/] {problem}", highlight=False)


def _record(store: str | None, record: str) -> dict[str, Any]:
    from broker.adapters.stores.auditfiles import store_target
    from broker.adapters.stores.auditor import AuditStore
    from broker.core.audit import AuditError

    with AuditStore.open(store or store_target(settings())) as st:
        try:
            found = st.record(record)
        except AuditError as exc:
            fail(f"--record: {exc}", 1)
    if found is None:
        fail(f"--record: no audit record {record} in the store (run `broker audit sync`)")
    return found


def _inform_duty(doc: dict[str, Any], duties: tuple[Duty, ...], record: str) -> Duty:
    """The duty to inform this decision record opened; fail if it opened none."""
    by_id = {d.id: d for d in duties}
    opened = [by_id[d] for d in doc.get("duties") or [] if d in by_id]
    informing = [d for d in opened if d.closes is not None and d.closes.events]
    if doc.get("event") != "decision" or not informing:
        fail(f"--record: record {record} opened no duty to inform")
    return informing[0]


PERSON_OPTION = {"informed": "--informed", "inform-exception": "--for"}
FIELD_OPTION = {"how": "--how", "informed_at": "--at", "exception": "--exception"}


def inform(
    record: Annotated[str, typer.Option(help="the decision record whose duty to inform it closes")],
    informed: Annotated[
        str | None, typer.Option(help="who was told: child, guardians or child,guardians")
    ] = None,
    how: Annotated[str | None, typer.Option(help="letter, in-person or digital-mailbox")] = None,
    at: Annotated[str | None, typer.Option(help="when they were told (ISO date or time)")] = None,
    exception: Annotated[
        str | None, typer.Option(help="the exception that applies (a code from duties.yaml)")
    ] = None,
    for_: Annotated[
        str, typer.Option("--for", help="whom the exception concerns")
    ] = "child,guardians",
    store: StoreOpt = None,
) -> None:
    """Record that the child and the guardians were told of a disclosure (--informed --how
    --at), or that an exception applies (--exception CODE): a signed audit event."""
    from broker.adapters.policy_files import load_policy
    from broker.core.audit import OBLIGATION_TYPE, writers
    from broker.core.audit.errors import ObligationError
    from broker.core.audit.inform import exception_event, informed_event

    if (exception is None) == (informed is None):
        fail("give either --informed (with --how and --at) or --exception")
    s = settings()
    duty = _inform_duty(_record(store, record), load_policy(s.policy_dir).duties, record)
    now = datetime.now(UTC)
    event = "informed" if informed is not None else "inform-exception"
    try:
        if informed is not None:
            if how is None or at is None:
                fail("--informed needs --how and --at")
            persons = [p.strip() for p in informed.split(",")]
            rid, value = informed_event(
                record, duty, persons=persons, how=how, informed_at=_instant(at, "--at"), when=now
            )
        else:
            assert exception is not None
            persons = [p.strip() for p in for_.split(",")]
            rid, value = exception_event(record, duty, persons=persons, code=exception, when=now)
    except ObligationError as exc:
        option = PERSON_OPTION[event] if exc.field == "persons" else FIELD_OPTION.get(exc.field)
        fail(f"{option or exc.field}: {exc.reason}")
    key = writer_key(s, writers.REVIEWER)  # after the checks: a refusal needs no key
    publish_reviewer_event(s, key, OBLIGATION_TYPE, rid, value, now)
    out.print(f"{event} {rid} for record {record} published to {s.topics.audit}")


def letter(
    record: Annotated[str, typer.Option(help="the decision record of the disclosure")],
    notice: Annotated[Path, typer.Option(help="the notice (JSON) the record decided")],
    out_file: Annotated[
        Path | None, typer.Option("--out", help="write the letter here [default: stdout]")
    ] = None,
    store: StoreOpt = None,
    lang: LangOpt = None,
) -> None:
    """The letter to the guardians, in bokmål or English (Markdown): what was shared, with
    whom, when and under which law, from the audit record and the notice."""
    from broker.adapters.policy_files import load_directory, load_policy
    from broker.adapters.publisher import load_notice
    from broker.core.audit.errors import NotAnAuditMessage
    from broker.core.audit.messages import read_stored_record
    from broker.core.errors import BrokerError
    from broker.core.letter import Letter, LetterError, render
    from broker.core.records import AuditRecord

    doc = _record(store, record)
    try:
        decided = read_stored_record(doc)
    except NotAnAuditMessage as exc:
        fail(f"--record: {exc}")
    if not isinstance(decided, AuditRecord):
        fail(f"--record: record {record} is not a decision")
    if not notice.is_file():
        fail(f"--notice: no such file {notice}")
    try:
        parsed = load_notice(notice)
    except BrokerError as exc:
        fail(f"--notice: {exc}")
    directory = load_directory(load_policy(settings().policy_dir))
    org = directory.organisations.get(decided.organisation or "")
    name = org.name if org is not None else (decided.organisation or "-")
    t = translator(lang)
    try:
        text = render(Letter(decided, parsed, name), t, datetime.now(t.zone).date())
    except LetterError as exc:
        fail(str(exc))
    if out_file is None:
        print(text, end="")
        return
    try:
        out_file.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"--out: cannot write {out_file} ({type(exc).__name__})")
    out.print(f"letter for record {record} written to {out_file}")
