"""The data-subject access report: every disclosure about one person, as Markdown, HTML or JSON.

Built from audit records only (field names, recipients, legal bases; never values). The person
is found by the keyed reference the shell computes from the national id number, which appears
nowhere in the report. The JSON keeps the records' codes and UTC times; Markdown, HTML and the
auditor page say it in the reader's language (``shown``): Oslo time, fields by their labels
with the path beside them, the law by its Norwegian name and section.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from broker.core.citations import law
from broker.core.i18n import Translator
from broker.core.labels import citation_status, field_groups, field_label, notice_type_label
from broker.core.names import Names


@dataclass(frozen=True)
class Disclosure:
    when: str
    recipient: str
    notice_type: str
    notice_id: str
    rule_id: str
    legal_basis: str
    statute: str
    citation: str
    status: str
    source: str
    fields: list[str]
    withheld: list[str]
    review_required: bool
    record_id: str
    organisation: str | None = None  # the organisation that filled the role (newer records)
    policy_version: str = ""


@dataclass(frozen=True)
class SubjectReport:
    generated_at: str
    disclosures: list[Disclosure]
    not_shared: int  # decisions to deny a recipient
    rejected_inputs: int  # dead letters about this person

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2)


def subject_report(documents: Iterable[Mapping[str, Any]], now: datetime) -> SubjectReport:
    """Summarise one person's audit records (already selected by subject reference)."""
    disclosures, denied, dead = [], 0, 0
    seen: set[str] = set()
    for d in documents:
        rid = str(d.get("record_id"))
        if rid in seen:  # at-least-once delivery may repeat a record: report it once
            continue
        seen.add(rid)
        if d.get("event") == "dead-letter":
            dead += 1
        elif d.get("outcome") == "deny":
            denied += 1
        elif d.get("outcome") == "deliver":
            basis = d.get("legal_basis") or {}
            disclosures.append(
                Disclosure(
                    when=str(d.get("recorded_at", "")),
                    recipient=str(d.get("recipient", "")),
                    notice_type=str(d.get("notice_type", "")),
                    notice_id=str(d.get("notice_id", "")),
                    rule_id=str(d.get("rule_id", "")),
                    legal_basis=str(basis.get("id", "")),
                    statute=str(basis.get("statute", "")),
                    citation=str(basis.get("citation", "")),
                    status=str(basis.get("status", "")),
                    source=str(basis.get("source", "")),
                    fields=[str(f) for f in d.get("fields_kept", [])],
                    withheld=[str(f) for f in d.get("fields_withheld", [])],
                    review_required=bool(d.get("review_required", False)),
                    record_id=rid,
                    organisation=str(d["organisation"]) if d.get("organisation") else None,
                    policy_version=str(d.get("policy_version") or ""),
                )
            )
    disclosures.sort(key=lambda x: x.when)
    return SubjectReport(now.isoformat(timespec="seconds"), disclosures, denied, dead)


def moment(text: str, t: Translator) -> str:
    """A record's UTC time as the reader writes it in Oslo time; text that is no time, as is."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return text
    return t.when(when) if when.tzinfo is not None else text


def shown(d: Disclosure, t: Translator, names: Names | None = None) -> dict[str, Any]:
    """One disclosure as a person reads it (the page's rows, the Markdown's and HTML's): to
    whom by name (the organisation and its role, ``names``; without them, the codes), and why
    (the rule's purpose, where ``names`` has the policies it was decided under)."""
    names = names or Names()
    purpose = names.purpose(d.rule_id, d.policy_version, t.lang)
    return {
        "when": moment(d.when, t),
        "recipient": names.whom(d.recipient, d.organisation, t),
        "purpose": t.gettext("purpose: %(purpose)s", purpose=purpose) if purpose else "",
        "notice": t.gettext(
            "%(kind)s %(ref)s", kind=notice_type_label(d.notice_type, t), ref=d.notice_id[:8]
        ),
        "law": law(d.statute, d.citation, t),
        "basis": t.gettext(
            "%(id)s, %(status)s", id=d.legal_basis, status=citation_status(d.status, t)
        ),
        "urgent": t.gettext("urgent, reviewed afterwards") if d.review_required else "",
        "fields": [{"path": f, "label": field_label(f, t.lang)} for f in d.fields],
        "groups": field_groups(d.fields, t),
    }


def summary(report: SubjectReport, t: Translator) -> dict[str, str]:
    """The report's title, when it was made, and its counts, as sentences."""
    return {
        "title": t.gettext("Disclosures about you"),
        "generated": t.gettext(
            "Made %(when)s from the broker's audit log.", when=moment(report.generated_at, t)
        ),
        "counts": t.gettext(
            "%(disclosures)s; %(denied)s; %(rejected)s.",
            disclosures=t.ngettext(
                "%(n)s disclosure", "%(n)s disclosures", len(report.disclosures)
            ),
            denied=t.ngettext(
                "%(n)s decision not to share", "%(n)s decisions not to share", report.not_shared
            ),
            rejected=t.ngettext(
                "%(n)s rejected input", "%(n)s rejected inputs", report.rejected_inputs
            ),
        ),
    }


def _headers(t: Translator) -> list[str]:
    return [
        t.gettext("when (Oslo time)"),
        t.gettext("to whom"),
        t.gettext("notice"),
        t.gettext("legal basis"),
        t.gettext("fields disclosed"),
    ]


def to_markdown(report: SubjectReport, t: Translator, names: Names | None = None) -> str:
    head = summary(report, t)
    lines = [f"# {head['title']}", "", head["generated"], "", head["counts"], ""]
    if report.disclosures:
        headers = _headers(t)
        lines += ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        for d in report.disclosures:
            row = shown(d, t, names)
            urgent = f" ({row['urgent']})" if row["urgent"] else ""
            why = f"; {row['purpose']}" if row["purpose"] else ""
            fields = ", ".join(f"{f['label']} (`{f['path']}`)" for f in row["fields"])
            cells = [
                row["when"],
                row["recipient"],
                row["notice"],
                f"{row['law']} ({row['basis']}){urgent}{why}",
                fields,
            ]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def to_html(report: SubjectReport, t: Translator, names: Names | None = None) -> str:
    e = html.escape
    head = summary(report, t)
    rows = []
    for d in report.disclosures:
        row = shown(d, t, names)
        urgent = f" <strong>{e(row['urgent'])}</strong>" if row["urgent"] else ""
        why = f"<br><small>{e(row['purpose'])}</small>" if row["purpose"] else ""
        fields = ", ".join(
            f'<span title="{e(f["path"])}">{e(f["label"])}</span> <code>{e(f["path"])}</code>'
            for f in row["fields"]
        )
        rows.append(
            f"<tr><td>{e(row['when'])}</td><td>{e(row['recipient'])}</td>"
            f"<td>{e(row['notice'])}</td>"
            f"<td>{e(row['law'])} <small>({e(row['basis'])})</small>{urgent}{why}</td>"
            f"<td>{fields}</td></tr>"
        )
    header = "".join(f"<th>{e(h)}</th>" for h in _headers(t))
    return (
        f'<!doctype html><html lang="{t.lang}"><head><meta charset="utf-8">'
        f"<title>{e(head['title'])}</title></head><body>"
        f"<h1>{e(head['title'])}</h1>"
        f"<p>{e(head['generated'])}</p><p>{e(head['counts'])}</p>"
        f'<table id="disclosures"><thead><tr>{header}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></body></html>\n"
    )
