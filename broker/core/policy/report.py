"""`broker policy report`: the policy set as a document a lawyer can review, in Markdown and
HTML. Per recipient: what it gets, from whom, under which law and conditions, transformed how,
and what it never gets."""

from __future__ import annotations

import html
from dataclasses import dataclass

from broker.core.notices import NOTICE_MODELS
from broker.core.paths import schema_kinds
from broker.core.policy.model import Commencement, Effect, LegalBasis, PolicySet, Recipient, Rule


@dataclass(frozen=True)
class Block:
    kind: str  # h1, h2, h3, p, table
    text: str = ""
    headers: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()


def _fields(rule: Rule) -> str:
    return ", ".join(p if op.name == "keep" else f"{p} ({op})" for p, op in rule.fields.items())


def _leaves(notice_type: str) -> set[str]:
    kinds: dict[str, str] = {}
    for (t, _), model in NOTICE_MODELS.items():
        if t == notice_type:
            kinds.update(schema_kinds(model))
    return {p for p, k in kinds.items() if k not in ("object", "array")}


def blocks(policy: PolicySet) -> list[Block]:
    out = [
        Block("h1", "Information-sharing policy"),
        Block(
            "p",
            f"Policy version {policy.version}. Deny by default: a recipient gets a notice only "
            "if a rule below applies in full. A deny rule overrides every allow rule; otherwise "
            "the first allow rule that applies decides (urgent rules first for a notice flagged "
            "as danger to life or health), and only the fields it lists are released.",
        ),
    ]
    for recipient in sorted(policy.recipients.values(), key=lambda r: r.id):
        out += _recipient_blocks(policy, recipient)
    out.append(Block("h2", "Legal bases"))
    out.append(_legal_bases_table(policy))
    out.append(Block("h2", "Open legal questions"))
    out += _questions_table(policy)
    return out


def _recipient_blocks(policy: PolicySet, recipient: Recipient) -> list[Block]:
    """A recipient's section: who it is, its rules, and what it never gets."""
    rules = [r for r in policy.rules if r.recipient == recipient.id]
    out = [
        Block("h2", f"{recipient.name} ({recipient.id})"),
        Block("p", f"{recipient.agency}. {recipient.description}".strip()),
    ]
    if not rules:
        return [*out, Block("p", "No rule: this recipient receives nothing.")]
    out.append(
        Block(
            "table",
            headers=(
                "rule",
                "effect",
                "from: notice",
                "legal basis",
                "purpose",
                "condition (CEL)",
                "fields released",
            ),
            rows=tuple(_rule_row(policy, rule) for rule in rules),
        )
    )
    out.append(Block("h3", "Never released to this recipient"))
    out.append(Block("table", headers=("notice type", "fields"), rows=_never_released(rules)))
    return out


def _rule_row(policy: PolicySet, rule: Rule) -> tuple[str, ...]:
    basis = policy.legal_bases[rule.legal_basis]
    return (
        rule.id,
        rule.effect.value + (" (urgent, reviewed after)" if rule.urgent else ""),
        f"{rule.sender}: {rule.notice_type}",
        f"{basis.statute.name} {basis.citation} [{basis.status}] {basis.source}"
        + (f"; requires {', '.join(basis.requires)}" if basis.requires else ""),
        rule.purpose,
        rule.condition,
        _fields(rule) if rule.effect is Effect.allow else "nothing",
    )


def _never_released(rules: list[Rule]) -> tuple[tuple[str, str], ...]:
    """Per notice type: the leaf fields no allow rule of this recipient releases."""
    never = []
    for notice_type in sorted({r.notice_type for r in rules}):
        allows = [r for r in rules if r.notice_type == notice_type and r.effect is Effect.allow]
        withheld = sorted(
            p for p in _leaves(notice_type) if not any(r.plan.op_for(p) for r in allows)
        )
        never.append((notice_type, ", ".join(withheld) or "(nothing)"))
    return tuple(never)


def _legal_bases_table(policy: PolicySet) -> Block:
    """Every legal basis, with the rules that cite it."""
    cited: dict[str, list[str]] = {}
    for rule in policy.rules:
        cited.setdefault(rule.legal_basis, []).append(rule.id)
    return Block(
        "table",
        headers=(
            "id",
            "statute and citation",
            "summary",
            "conditions",
            "status",
            "in force",
            "source",
            "cited by",
        ),
        rows=tuple(
            (
                b.id,
                f"{b.statute} {b.citation}",
                b.summary,
                b.conditions,
                b.status.value,
                _validity(b),
                b.source,
                ", ".join(cited.get(b.id, [])) or "no rule",
            )
            for b in policy.legal_bases.values()
        ),
    )


def _validity(basis: LegalBasis) -> str:
    """When the basis is in force, and what replaces it."""
    if basis.commencement is Commencement.pending:
        text = "not yet: commencement pending"
    elif basis.valid_from and basis.valid_to:
        text = f"from {basis.valid_from} until {basis.valid_to} (exclusive)"
    elif basis.valid_to:
        text = f"until {basis.valid_to} (exclusive)"
    else:
        since = f" since {basis.valid_from}" if basis.valid_from else ""
        text = f"in force{since}, no end known"
    return text + (f"; replaced by {basis.successor}" if basis.successor else "")


def _questions_table(policy: PolicySet) -> list[Block]:
    """The legal questions a lawyer must still decide, with what they concern."""
    if not policy.open_questions:
        return [Block("p", "No open question.")]
    return [
        Block(
            "p",
            "Questions a lawyer must still decide. Until then the rules they concern stand as "
            "written, on our reading of the law.",
        ),
        Block(
            "table",
            headers=("id", "question", "legal bases", "rules", "status"),
            rows=tuple(
                (
                    q.id,
                    q.question + (f" Answer: {q.answer}" if q.answer else ""),
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


def markdown(policy: PolicySet) -> str:
    lines: list[str] = []
    for b in blocks(policy):
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
    "body{font-family:system-ui,sans-serif;margin:2rem;max-width:110rem}"
    "table{border-collapse:collapse;margin-bottom:1.5rem}"
    "td,th{border:1px solid #bbb;padding:.3rem .5rem;vertical-align:top;text-align:left}"
    "th{background:#eee}"
)


def html_report(policy: PolicySet) -> str:
    e = html.escape
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Information-sharing policy</title><style>{_CSS}</style></head><body>",
    ]
    for b in blocks(policy):
        if b.kind in ("h1", "h2", "h3", "p"):
            parts.append(f"<{b.kind}>{e(b.text)}</{b.kind}>")
        else:
            head = "".join(f"<th>{e(h)}</th>" for h in b.headers)
            body = "".join(
                "<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in b.rows
            )
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
