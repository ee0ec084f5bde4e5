"""`broker policy report`: the policy set as a document a lawyer can review without knowing
YAML, in Markdown and HTML.

Per recipient role: each rule with its legal basis (statute, citation, status, source link),
what the notice must carry before anything is released, the duties a disclosure triggers, the
fields released and how, the open questions that concern it; then the invariants that hold for
the role and what it never receives. Conditions are said in words (broker.core.policy.words),
with the CEL beside them for the engineer.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from broker.core.notices import NOTICE_MODELS
from broker.core.paths import schema_kinds
from broker.core.policy import invariants as proofs
from broker.core.policy.duties import Duty, DutyKind
from broker.core.policy.model import (
    Commencement,
    Effect,
    Invariant,
    LegalBasis,
    NeverReceives,
    PolicySet,
    Recipient,
    Requirement,
    Rule,
)
from broker.core.policy.words import in_words
from broker.core.redaction import FieldOp


@dataclass(frozen=True)
class Block:
    kind: str  # h1, h2, h3, p, table
    text: str = ""
    headers: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()


_STATUS = {
    "confirmed": "confirmed (read in the statute text)",
    "guidance": "guidance (preparatory works or an official guideline)",
    "inferred": "inferred (our reading: a lawyer must confirm it)",
}
_REQUIRED = {
    Requirement.necessity: "the police's necessity and proportionality assessment",
    Requirement.consent: "a reference to recorded consent (who consented, when)",
    Requirement.controller_decision: (
        "the controller's written decision (who decided, in which role, when, its reference), "
        "dated no later than the notice"
    ),
}
_HOW = {
    "keep": "as it is",
    "pseudonymise": "as a pseudonym under the recipient's own key",
    "generalise:age-band": "as an age band (0-5, 6-9, 10-12, 13-14, 15-17, 18+)",
    "generalise:birth-year": "as the year of birth",
    "generalise:year": "as the year",
    "generalise:month": "as the month",
    "generalise:district": "as the district",
}


def _how(op: FieldOp) -> str:
    if op.name == "mask":
        return f"masked: only the last {op.arg} characters shown"
    return _HOW.get(str(op), str(op))


def _leaves(notice_type: str) -> set[str]:
    kinds: dict[str, str] = {}
    for (t, _), model in NOTICE_MODELS.items():
        if t == notice_type:
            kinds.update(schema_kinds(model))
    return {p for p, k in kinds.items() if k not in ("object", "array")}


def blocks(policy: PolicySet) -> list[Block]:
    violations = proofs.check(policy)
    out = [
        Block("h1", "Information-sharing policy"),
        Block(
            "p",
            f"Policy version {policy.version}. Deny by default: a recipient gets a notice only "
            "if a rule below applies in full. A deny rule overrides every allow rule; otherwise "
            "the first allow rule that applies decides (urgent rules first for a notice flagged "
            "as danger to life or health), and only the fields it lists are released.",
        ),
        Block(
            "p",
            "How far each citation is established: " + "; ".join(_STATUS.values()) + ".",
        ),
        _overview(policy),
        *_before_any_rule(policy),
    ]
    for recipient in sorted(policy.recipients.values(), key=lambda r: r.id):
        out += _recipient_blocks(policy, recipient, violations)
    out.append(Block("h2", "Legal bases"))
    out.append(_legal_bases_table(policy))
    out.append(Block("h2", "Duties that come with a disclosure"))
    out.append(_duties_table(policy))
    out.append(Block("h2", "Invariants"))
    out.append(_invariants_table(policy, policy.invariants, violations))
    out.append(Block("h2", "Open legal questions"))
    out += _questions_table(policy)
    return out


def _before_any_rule(policy: PolicySet) -> list[Block]:
    """What holds for every notice before, and beside, the rules."""
    exempt = ", ".join(policy.subjects.adults_decided_for) or "none"
    out = [
        Block("h2", "Before any rule"),
        Block(
            "p",
            "A notice whose subject is 18 or older on the day it was issued is refused for every "
            f"recipient (not-a-child) before any rule is tried; notice types exempt: {exempt}.",
        ),
    ]
    imposed = policy.imposed_confidentiality
    if imposed is not None:
        basis = policy.legal_bases[imposed.legal_basis]
        municipal = sorted(r.id for r in policy.recipients.values() if r.municipal)
        out.append(
            Block(
                "p",
                f"Imposed confidentiality ({_cite(basis)}): when a police notice imposes it, the "
                f"copies for the municipal recipients ({', '.join(municipal)}) carry the duty and "
                f'this text: "{imposed.text}"',
            )
        )
    return out


def _overview(policy: PolicySet) -> Block:
    """One row per recipient role: how many rules, under which bases."""
    rows = []
    for recipient in sorted(policy.recipients.values(), key=lambda r: r.id):
        rules = [r for r in policy.rules if r.recipient == recipient.id]
        allows = [r for r in rules if r.effect is Effect.allow]
        bases = sorted({_cite(policy.legal_bases[r.legal_basis]) for r in allows})
        rows.append(
            (
                f"{recipient.name} ({recipient.id})",
                str(len(allows)),
                str(len(rules) - len(allows)),
                "; ".join(bases) or "nothing: no rule",
            )
        )
    return Block(
        "table", headers=("recipient", "allow rules", "deny rules", "legal bases"), rows=tuple(rows)
    )


def _cite(basis: LegalBasis) -> str:
    return f"{basis.statute.name} {basis.citation}"


def _recipient_blocks(
    policy: PolicySet, recipient: Recipient, violations: list[proofs.Violation]
) -> list[Block]:
    """A recipient's section: who it is, its rules, its invariants, what it never gets."""
    rules = [r for r in policy.rules if r.recipient == recipient.id]
    out = [
        Block("h2", f"{recipient.name} ({recipient.id})"),
        Block("p", f"{recipient.agency}. {recipient.description}".strip()),
    ]
    if not rules:
        return [*out, Block("p", "No rule: this recipient receives nothing.")]
    for rule in rules:
        out += _rule_blocks(policy, rule)
    concerning = [i for i in policy.invariants if _concerns(i, recipient.id)]
    mine = [v for v in violations if policy_rule(policy, v.rule).recipient == recipient.id]
    out.append(Block("h3", "Invariants for this recipient"))
    out.append(_invariants_table(policy, concerning, mine))
    out.append(Block("h3", "Never released to this recipient"))
    out.append(Block("table", headers=("notice type", "fields"), rows=_never_released(rules)))
    return out


def policy_rule(policy: PolicySet, rule_id: str) -> Rule:
    return next(r for r in policy.rules if r.id == rule_id)


def _concerns(invariant: Invariant, recipient: str) -> bool:
    form = invariant.check
    return not isinstance(form, NeverReceives) or form.recipient == recipient


def _rule_blocks(policy: PolicySet, rule: Rule) -> list[Block]:
    basis = policy.legal_bases[rule.legal_basis]
    words = in_words(rule.condition)
    effect = "denies" if rule.effect is Effect.deny else "releases the fields below"
    if rule.urgent:
        effect += "; urgent: only for a notice flagged as danger to life or health"
    rows = [
        ("purpose", rule.purpose),
        ("from", f"{rule.sender}: {rule.notice_type} notices"),
        ("effect", effect),
        ("when", words or "(see the condition as written)"),
        ("condition as written (CEL)", rule.condition),
        ("legal basis", f"{_cite(basis)} ({basis.id}): {basis.summary}"),
        ("status of the citation", _STATUS[basis.status]),
        ("in force", _validity(basis)),
        ("source", basis.source),
    ]
    if basis.conditions:
        rows.append(("conditions of the basis", basis.conditions))
    if basis.covers is not None:
        rows.append(("the basis covers only", ", ".join(basis.covers) or "no field of a notice"))
    if rule.effect is Effect.allow:
        required = [_REQUIRED.get(r, r.value) for r in basis.requires]
        rows.append(("the notice must carry", "; ".join(required) or "nothing beyond the rule"))
        rows.append(("duties a disclosure triggers", "; ".join(_duties(policy, rule)) or "none"))
    questions = [
        q for q in policy.open_questions if rule.id in q.rules or rule.legal_basis in q.bases
    ]
    if questions:
        rows.append(("open questions", "; ".join(f"{q.id}: {q.question}" for q in questions)))
    out = [
        Block("h3", f"Rule {rule.id}"),
        Block("table", headers=("", "what the rule says"), rows=tuple(rows)),
    ]
    if rule.effect is Effect.allow:
        out.append(
            Block(
                "table",
                headers=("field released", "how"),
                rows=tuple((p, _how(op)) for p, op in rule.fields.items() if op.name != "drop"),
            )
        )
    return out


def _duties(policy: PolicySet, rule: Rule) -> list[str]:
    """What the law asks after a disclosure under this rule: the obligations a delivery opens
    (policies/duties.yaml; a feedback-status filter is said, not applied) and the review of an
    urgent disclosure."""
    out = []
    for duty in policy.duties:
        if duty.kind is not DutyKind.obligation:
            continue
        hits = [
            o
            for o in duty.opens
            if all(
                not allowed or value in allowed
                for allowed, value in (
                    (o.senders, rule.sender),
                    (o.bases, rule.legal_basis),
                    (o.notice_types, rule.notice_type),
                    (o.recipients, rule.recipient),
                )
            )
        ]
        if hits:
            statuses = sorted({str(s) for o in hits for s in o.statuses})
            when = f", when the feedback is {' or '.join(statuses)}" if statuses else ""
            out.append(f"{duty.id}: {duty.summary} ({duty.statute}; {_due(duty)}{when})")
    if rule.urgent:
        out.append("review afterwards (an urgent disclosure is marked for mandatory review)")
    return out


def _due(duty: Duty) -> str:
    if duty.deadline_days:
        return f"due within {duty.deadline_days} days"
    return duty.deadline_note or "no deadline in days"


def _duties_table(policy: PolicySet) -> Block:
    """Every duty in the catalogue: what it asks, who must act, by when, what closes it."""
    rows = []
    for d in policy.duties:
        closes = "-"
        if d.closes is not None:
            closes = (
                "a signed event: "
                + " or ".join(d.closes.events)
                + " ("
                + ", ".join(d.closes.persons)
                + ")"
                if d.closes.events
                else "a concern feedback with status "
                + ", ".join(str(s) for s in d.closes.feedback)
            )
        rows.append(
            (
                d.id,
                d.kind.value,
                d.summary,
                d.statute,
                _STATUS[d.status],
                d.holder.value,
                _due(d) if d.kind is DutyKind.obligation else "-",
                closes,
                d.source,
            )
        )
    return Block(
        "table",
        headers=(
            "duty",
            "kind",
            "what it asks",
            "law",
            "status",
            "who acts",
            "deadline",
            "closed by",
            "source",
        ),
        rows=tuple(rows),
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


def _invariants_table(
    policy: PolicySet,
    invariants: tuple[Invariant, ...] | list[Invariant],
    broken: list[proofs.Violation],
) -> Block:
    rows = []
    for inv in invariants:
        against = [v for v in broken if v.invariant == inv.id]
        state = (
            "holds (proved over every allow rule's fields)"
            if not against
            else "FAILS: " + "; ".join(f"rule {v.rule}, {v.field}: {v.reason}" for v in against)
        )
        rows.append((inv.id, inv.statement, state))
    if not rows:
        return Block(
            "table", headers=("invariant", "statement", "state"), rows=(("-", "none", "-"),)
        )
    return Block("table", headers=("invariant", "statement", "state"), rows=tuple(rows))


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
    "body{font-family:system-ui,sans-serif;margin:2rem;max-width:80rem;line-height:1.4}"
    "table{border-collapse:collapse;margin-bottom:1.2rem}"
    "td,th{border:1px solid #bbb;padding:.3rem .5rem;vertical-align:top;text-align:left}"
    "th{background:#eee}h3{margin-top:1.8rem}"
)


def _linked(text: str) -> str:
    """Escaped text; a cell that is a source address becomes a link."""
    escaped = html.escape(text)
    return f'<a href="{escaped}">{escaped}</a>' if text.startswith("https://") else escaped


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
            continue
        head = "<thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in b.headers) + "</tr></thead>"
        body = "".join(
            "<tr>" + "".join(f"<td>{_linked(c)}</td>" for c in row) + "</tr>" for row in b.rows
        )
        parts.append(f"<table>{head}<tbody>{body}</tbody></table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
