"""Tables, progress bars and fault reports the audit commands print (rich markup, no I/O)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from broker.cli._common import err
from broker.core.audit.errors import NotAnAuditMessage
from broker.core.audit.messages import (
    Informed,
    InformException,
    OrganisationRetired,
    ReceiptRecord,
    ReceiptRejected,
    Record,
    ReviewRecord,
    read_stored_record,
)
from broker.core.i18n import N_, Translator
from broker.core.labels import decision_label, notice_type_label
from broker.core.records import AuditRecord

if TYPE_CHECKING:
    from broker.core.audit import Report

AUDIT_COLUMNS = (
    N_("recorded (Oslo time)"),
    N_("notice"),
    N_("type"),
    N_("recipient (organisation)"),
    N_("decision"),
    N_("rule or reason"),
    N_("legal basis"),
    N_("kept/withheld"),
)


def audit_columns(t: Translator) -> list[str]:
    return [t.gettext(c) for c in AUDIT_COLUMNS]


def _reason(record: AuditRecord | ReceiptRejected) -> str:
    """The deciding rule, or the last reason's code and subject (never a value)."""
    if isinstance(record, AuditRecord) and record.rule_id:
        return record.rule_id
    code, _, detail = (record.reasons or ["-"])[-1].partition(": ")
    if code == "no-rule":
        return "no-rule"
    return f"{code} ({detail.removeprefix('rule ')})" if detail else code


def _whom(recipient: str | None, organisation: str | None) -> str:
    """The role, and the organisation that filled it where the record names one."""
    return f"{recipient or '-'} ({organisation})" if organisation else recipient or "-"


def audit_row(m: Record, t: Translator) -> list[str]:
    """One row of the audit table: what was decided for whom, under which rule and basis, in
    the reader's words; ids, rule ids and reason codes as the record has them."""
    at = t.clock(m.recorded_at)
    if isinstance(m, ReviewRecord):
        reviewed = t.gettext(
            "of %(record)s by %(reviewer)s", record=m.reviewed_record_id[:12], reviewer=m.reviewer
        )
        label = decision_label("review", t)
        return [at, "-", "-", "-", f"[cyan]{label}[/]", reviewed, "-", "-"]
    if isinstance(m, Informed | InformException):
        what = m.how if isinstance(m, Informed) else m.exception
        closes = t.gettext(
            "%(duty)s of %(record)s: %(persons)s",
            duty=m.duty,
            record=m.decision_record_id[:12],
            persons=", ".join(m.persons),
        )
        return [at, "-", "-", "-", f"[cyan]{m.event}[/]", closes, what, "-"]
    if isinstance(m, OrganisationRetired):
        unread = t.ngettext("%(n)s copy unread", "%(n)s copies unread", len(m.unread))
        retired = t.gettext("retired")
        return [at, "-", "-", m.organisation, f"[magenta]{retired}[/]", unread, "-", "-"]
    if isinstance(m, ReceiptRecord):
        whom = _whom(m.recipient, m.organisation)
        return [at, "-", "-", whom, f"[red]{m.event}[/]", "-", "-", "0/0"]
    if isinstance(m, ReceiptRejected):
        whom = _whom(m.recipient, m.organisation)
        return [at, "-", "-", whom, f"[red]{m.event}[/]", _reason(m), "-", "0/0"]
    decision = m.outcome or m.event
    style = {"deliver": "green", "deny": "yellow"}.get(decision, "red")
    return [
        at,
        (m.notice_id or "-")[:8],
        notice_type_label(m.notice_type, t) if m.notice_type else "-",
        _whom(m.recipient, m.organisation),
        f"[{style}]{decision_label(decision, t)}[/]",
        _reason(m),
        m.legal_basis.id if m.legal_basis else "-",
        f"{len(m.fields_kept)}/{len(m.fields_withheld)}",
    ]


def audit_table(records: Iterable[Record], t: Translator, title: str | None = None) -> Table:
    """The audit records as a table in ``t``'s language (title: 'audit records')."""
    table = Table(*audit_columns(t), title=t.gettext("audit records") if title is None else title)
    for r in records:
        table.add_row(*audit_row(r, t))
    return table


def stored_records(documents: Iterable[dict[str, Any]]) -> list[Record]:
    """The auditor store's documents as records; one that is not a record is skipped (the store
    keeps it, and `audit verify --from store` names it)."""
    out: list[Record] = []
    for d in documents:
        try:
            out.append(read_stored_record(d))
        except NotAnAuditMessage:
            continue
    return out


def progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


def fail_fault(report: Report, where: str, code: int = 1) -> NoReturn:
    """Name the fault and every unattributed message (not signed by an entitled writer)."""
    from broker.core.audit.faults import FaultKind

    cause = report.fault.kind if report.fault is not None else FaultKind.unattributed
    err.print(f"[bold red]{where} does not verify[/] (cause: {cause})", highlight=False)
    for fault in [*([report.fault] if report.fault else []), *report.unattributed]:
        err.print(f"[bold]{fault.kind}[/]: {fault.where()}", highlight=False)
        err.print(f"  {fault.detail}", highlight=False)
    if report.unattributed_count > len(report.unattributed):
        more = report.unattributed_count - len(report.unattributed)
        err.print(f"… and {more} more unattributed message(s)", highlight=False)
    raise typer.Exit(code)


def fail_columns(tampered: list[Any], where: str, shown: int = 20) -> NoReturn:
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


def warn_tampered(tampered: list[Any], shown: int = 5) -> None:
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


def report_table(report: Report, where: str) -> Table:
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
