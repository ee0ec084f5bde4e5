"""The policy report's catalogue tables (legal bases, duties, invariants, open questions), and
the report's blocks as Markdown and HTML. The words are the reader's (``Translator``), and so
are the policy's own texts (summaries, conditions, statements, questions, answers, deadline
notes): the policy files hold each in both languages, and the reader's is shown
(``PolicyText.of``)."""

from __future__ import annotations

import html
from dataclasses import dataclass

from broker.core.citations import citation
from broker.core.i18n import N_, Translator
from broker.core.policy import invariants as proofs
from broker.core.policy.duties import Duty, DutyKind
from broker.core.policy.model import Commencement, Invariant, LegalBasis, PolicySet, text_of


@dataclass(frozen=True)
class Block:
    kind: str  # h1, h2, h3, p, table
    text: str = ""
    headers: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()


STATUS = {
    "confirmed": N_("confirmed (read in the statute text)"),
    "guidance": N_("guidance (preparatory works or an official guideline)"),
    "inferred": N_("inferred (our reading: a lawyer must confirm it)"),
}


def cite(basis: LegalBasis, t: Translator) -> str:
    """'Politiregisterloven § 27 første ledd'."""
    return t.gettext(
        "%(statute)s %(citation)s", statute=basis.statute.name, citation=citation(basis.citation, t)
    )


def due(duty: Duty, t: Translator) -> str:
    if duty.deadline_days:
        return t.ngettext("due within %(n)s day", "due within %(n)s days", duty.deadline_days)
    return text_of(duty.deadline_note, t.lang) or t.gettext("no deadline in days")


def validity(basis: LegalBasis, t: Translator) -> str:
    """When the basis is in force, and what replaces it."""
    if basis.commencement is Commencement.pending:
        text = t.gettext("not yet: commencement pending")
    elif basis.valid_from and basis.valid_to:
        text = t.gettext(
            "from %(start)s until %(end)s (exclusive)",
            start=t.day(basis.valid_from),
            end=t.day(basis.valid_to),
        )
    elif basis.valid_to:
        text = t.gettext("until %(end)s (exclusive)", end=t.day(basis.valid_to))
    elif basis.valid_from:
        text = t.gettext("in force since %(start)s, no end known", start=t.day(basis.valid_from))
    else:
        text = t.gettext("in force, no end known")
    if basis.successor:
        return t.gettext(
            "%(text)s; replaced by %(successor)s", text=text, successor=basis.successor
        )
    return text


def duties_table(policy: PolicySet, t: Translator) -> Block:
    """Every duty in the catalogue: what it asks, who must act, by when, what closes it."""
    rows = []
    for d in policy.duties:
        closes = "-"
        if d.closes is not None and d.closes.events:
            closes = t.gettext(
                "a signed event: %(events)s (%(persons)s)",
                events=t.either(d.closes.events),
                persons=", ".join(d.closes.persons),
            )
        elif d.closes is not None:
            closes = t.gettext(
                "a concern feedback with status %(statuses)s",
                statuses=", ".join(str(s) for s in d.closes.feedback),
            )
        rows.append(
            (
                d.id,
                d.kind.value,
                d.summary.of(t.lang),
                d.statute.of(t.lang),
                t.gettext(STATUS[d.status]),
                d.holder.value,
                due(d, t) if d.kind is DutyKind.obligation else "-",
                closes,
                d.source,
            )
        )
    headers = (
        t.gettext("duty"),
        t.gettext("kind"),
        t.gettext("what it asks"),
        t.gettext("law"),
        t.gettext("status"),
        t.gettext("who acts"),
        t.gettext("deadline"),
        t.gettext("closed by"),
        t.gettext("source"),
    )
    return Block("table", headers=headers, rows=tuple(rows))


def invariants_table(
    invariants: tuple[Invariant, ...] | list[Invariant],
    broken: list[proofs.Violation],
    t: Translator,
) -> Block:
    headers = (t.gettext("invariant"), t.gettext("statement"), t.gettext("state"))
    rows = []
    for inv in invariants:
        against = [v for v in broken if v.invariant == inv.id]
        state = (
            t.gettext("holds (proved over every allow rule's fields)")
            if not against
            else t.gettext(
                "FAILS: %(violations)s",
                violations="; ".join(
                    t.gettext(
                        "rule %(rule)s, %(field)s: %(reason)s",
                        rule=v.rule,
                        field=v.field,
                        reason=v.reason,
                    )
                    for v in against
                ),
            )
        )
        rows.append((inv.id, inv.statement.of(t.lang), state))
    if not rows:
        return Block("table", headers=headers, rows=(("-", t.gettext("none"), "-"),))
    return Block("table", headers=headers, rows=tuple(rows))


def legal_bases_table(policy: PolicySet, t: Translator) -> Block:
    """Every legal basis, with the rules that cite it."""
    cited: dict[str, list[str]] = {}
    for rule in policy.rules:
        cited.setdefault(rule.legal_basis, []).append(rule.id)
    headers = (
        t.gettext("id"),
        t.gettext("statute and citation"),
        t.gettext("summary"),
        t.gettext("conditions"),
        t.gettext("status"),
        t.gettext("in force"),
        t.gettext("source"),
        t.gettext("cited by"),
    )
    rows = tuple(
        (
            b.id,
            t.gettext("%(name)s (%(id)s)", name=cite(b, t), id=b.statute.id),
            b.summary.of(t.lang),
            text_of(b.conditions, t.lang),
            t.gettext(STATUS[b.status.value]),
            validity(b, t),
            b.source,
            ", ".join(cited.get(b.id, [])) or t.gettext("no rule"),
        )
        for b in policy.legal_bases.values()
    )
    return Block("table", headers=headers, rows=rows)


def questions_blocks(policy: PolicySet, t: Translator) -> list[Block]:
    """The legal questions a lawyer must still decide, with what they concern."""
    if not policy.open_questions:
        return [Block("p", t.gettext("No open question."))]
    return [
        Block(
            "p",
            t.gettext(
                "Questions a lawyer must still decide. Until then the rules they concern stand "
                "as written, on our reading of the law."
            ),
        ),
        Block(
            "table",
            headers=(
                t.gettext("id"),
                t.gettext("question"),
                t.gettext("legal bases"),
                t.gettext("rules"),
                t.gettext("status"),
            ),
            rows=tuple(
                (
                    q.id,
                    t.gettext(
                        "%(question)s Answer: %(answer)s",
                        question=q.question.of(t.lang),
                        answer=q.answer.of(t.lang),
                    )
                    if q.answer
                    else q.question.of(t.lang),
                    ", ".join(q.bases) or "-",
                    ", ".join(q.rules) or "-",
                    q.status.value,
                )
                for q in policy.open_questions
            ),
        ),
    ]


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks: list[Block]) -> str:
    lines: list[str] = []
    for b in blocks:
        if b.kind in ("h1", "h2", "h3"):
            lines += ["#" * int(b.kind[1]) + " " + b.text, ""]
        elif b.kind == "p":
            lines += [b.text, ""]
        else:
            lines.append("| " + " | ".join(b.headers) + " |")
            lines.append("|" + "---|" * len(b.headers))
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows]
            lines.append("")
    return "\n".join(lines)


_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2rem;max-width:80rem;line-height:1.4}"
    "table{border-collapse:collapse;margin-bottom:1.2rem}"
    "td,th{border:1px solid #bbb;padding:.3rem .5rem;vertical-align:top;text-align:left}"
    "th{background:#eee}h3{margin-top:1.8rem}"
)


def _linked(text: str) -> str:
    """Escaped text; a cell that is a source address becomes a link."""
    escaped = html.escape(text)
    return f'<a href="{escaped}">{escaped}</a>' if text.startswith("https://") else escaped


def to_html(blocks: list[Block], t: Translator) -> str:
    e = html.escape
    title = t.gettext("Information-sharing policy")
    parts = [
        "<!doctype html>",
        f'<html lang="{t.lang}"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title><style>{_CSS}</style></head><body>",
    ]
    for b in blocks:
        if b.kind in ("h1", "h2", "h3", "p"):
            parts.append(f"<{b.kind}>{e(b.text)}</{b.kind}>")
            continue
        head = "<thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in b.headers) + "</tr></thead>"
        body = "".join(
            "<tr>" + "".join(f"<td>{_linked(c)}</td>" for c in row) + "</tr>" for row in b.rows
        )
        parts.append(f"<table>{head}<tbody>{body}</tbody></table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
