"""The data-subject access report: every disclosure about one person, as Markdown, HTML or JSON.

Built from audit records only (field names, recipients, legal bases; never values). The person
is found by the keyed reference the shell computes from the national id number, which appears
nowhere in the report.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any


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
                )
            )
    disclosures.sort(key=lambda x: x.when)
    return SubjectReport(now.isoformat(timespec="seconds"), disclosures, denied, dead)


def to_markdown(report: SubjectReport) -> str:
    lines = [
        "# Disclosures about you",
        "",
        f"Generated {report.generated_at} from the broker's audit log.",
        "",
        f"{len(report.disclosures)} disclosure(s); {report.not_shared} decision(s) not to share; "
        f"{report.rejected_inputs} rejected input(s).",
        "",
    ]
    if report.disclosures:
        lines += [
            "| when | to whom | notice | legal basis | fields disclosed |",
            "|---|---|---|---|---|",
        ]
        for d in report.disclosures:
            urgent = " (urgent, reviewed afterwards)" if d.review_required else ""
            lines.append(
                f"| {d.when} | {d.recipient} | {d.notice_type} {d.notice_id[:8]} | "
                f"{d.statute} {d.citation} ({d.legal_basis}, {d.status}){urgent} | "
                f"{', '.join(d.fields)} |"
            )
    return "\n".join(lines) + "\n"


def to_html(report: SubjectReport) -> str:
    e = html.escape
    rows = "".join(
        "<tr>"
        f"<td>{e(d.when)}</td><td>{e(d.recipient)}</td>"
        f"<td>{e(d.notice_type)} <code>{e(d.notice_id[:8])}</code></td>"
        f"<td>{e(d.statute)} {e(d.citation)} <small>({e(d.legal_basis)}, {e(d.status)})</small>"
        f"{' <strong>urgent</strong>' if d.review_required else ''}</td>"
        f"<td>{e(', '.join(d.fields))}</td>"
        "</tr>"
        for d in report.disclosures
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>Disclosures about you</title></head><body>"
        "<h1>Disclosures about you</h1>"
        f"<p>Generated {e(report.generated_at)} from the broker's audit log.</p>"
        f"<p>{len(report.disclosures)} disclosure(s); {report.not_shared} decision(s) not to "
        f"share; {report.rejected_inputs} rejected input(s).</p>"
        '<table id="disclosures"><thead><tr><th>when</th><th>to whom</th><th>notice</th>'
        "<th>legal basis</th><th>fields disclosed</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></body></html>\n"
    )
