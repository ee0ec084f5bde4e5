"""`broker policy report`: the policy set as a document a lawyer can review without knowing
YAML, in Markdown and HTML, in bokmål or English.

Per recipient role: each rule with its legal basis (statute, citation, status, source link),
what the notice must carry before anything is released, the duties a disclosure triggers, the
fields released (by label, with the path) and how, the open questions that concern it; then
the invariants that hold for the role and what it never receives. Conditions are said in words
(broker.core.policy.words), with the CEL beside them for the engineer. The report's own words
come from the message catalogue; the policy's own texts (names, purposes, summaries,
statements, questions), which the policy files hold in both languages, are shown in the
reader's (``PolicyText.of``). The text a copy carries when the police impose confidentiality
is quoted as the copy carries it: bokmål, then English.
"""

from __future__ import annotations

from broker.core.i18n import N_, Translator
from broker.core.labels import field_label
from broker.core.notices import NOTICE_MODELS
from broker.core.paths import schema_kinds
from broker.core.policy import invariants as proofs
from broker.core.policy.duties import DutyKind
from broker.core.policy.model import (
    Effect,
    Invariant,
    NeverReceives,
    PolicySet,
    Recipient,
    Requirement,
    Rule,
    text_of,
)
from broker.core.policy.report_tables import (
    STATUS,
    Block,
    cite,
    due,
    duties_table,
    invariants_table,
    legal_bases_table,
    questions_blocks,
    to_html,
    to_markdown,
    validity,
)
from broker.core.policy.words import in_words
from broker.core.redaction import FieldOp

__all__ = ["Block", "blocks", "html_report", "markdown", "policy_rule"]

_REQUIRED = {
    Requirement.necessity: N_("the police's necessity and proportionality assessment"),
    Requirement.consent: N_("a reference to recorded consent (who consented, when)"),
    Requirement.controller_decision: N_(
        "the controller's written decision (who decided, in which role, when, its reference), "
        "dated no later than the notice"
    ),
}
_HOW = {
    "keep": N_("as it is"),
    "pseudonymise": N_("as a pseudonym under the recipient's own key"),
    "generalise:age-band": N_("as an age band (0-5, 6-9, 10-12, 13-14, 15-17, 18+)"),
    "generalise:birth-year": N_("as the year of birth"),
    "generalise:year": N_("as the year"),
    "generalise:month": N_("as the month"),
    "generalise:district": N_("as the district"),
}


def _how(op: FieldOp, t: Translator) -> str:
    if op.name == "mask":
        return t.gettext("masked: only the last %(n)s characters shown", n=op.arg)
    known = _HOW.get(str(op))
    return t.gettext(known) if known else str(op)


def _leaves(notice_type: str) -> set[str]:
    kinds: dict[str, str] = {}
    for (nt, _), model in NOTICE_MODELS.items():
        if nt == notice_type:
            kinds.update(schema_kinds(model))
    return {p for p, k in kinds.items() if k not in ("object", "array")}


def blocks(policy: PolicySet, t: Translator) -> list[Block]:
    violations = proofs.check(policy)
    statuses = "; ".join(t.gettext(s) for s in STATUS.values())
    out = [
        Block("h1", t.gettext("Information-sharing policy")),
        Block(
            "p",
            t.gettext(
                "Policy version %(version)s. Deny by default: a recipient gets a notice only if a "
                "rule below applies in full. A deny rule overrides every allow rule; otherwise "
                "the first allow rule that applies decides (urgent rules first for a notice "
                "flagged as danger to life or health), and only the fields it lists are released.",
                version=policy.version,
            ),
        ),
        Block("p", t.gettext("How far each citation is established: %(list)s.", list=statuses)),
        _overview(policy, t),
        *_before_any_rule(policy, t),
    ]
    for recipient in sorted(policy.recipients.values(), key=lambda r: r.id):
        out += _recipient_blocks(policy, recipient, violations, t)
    out += [
        Block("h2", t.gettext("Legal bases")),
        legal_bases_table(policy, t),
        Block("h2", t.gettext("Duties that come with a disclosure")),
        duties_table(policy, t),
        Block("h2", t.gettext("Invariants")),
        invariants_table(policy.invariants, violations, t),
        Block("h2", t.gettext("Open legal questions")),
        *questions_blocks(policy, t),
    ]
    return out


def _before_any_rule(policy: PolicySet, t: Translator) -> list[Block]:
    """What holds for every notice before, and beside, the rules."""
    exempt = ", ".join(policy.subjects.adults_decided_for) or t.gettext("none")
    out = [
        Block("h2", t.gettext("Before any rule")),
        Block(
            "p",
            t.gettext(
                "A notice whose subject is 18 or older on the day it was issued is refused for "
                "every recipient (not-a-child) before any rule is tried; notice types exempt: "
                "%(exempt)s.",
                exempt=exempt,
            ),
        ),
    ]
    imposed = policy.imposed_confidentiality
    if imposed is not None:
        basis = policy.legal_bases[imposed.legal_basis]
        municipal = sorted(r.id for r in policy.recipients.values() if r.municipal)
        out.append(
            Block(
                "p",
                t.gettext(
                    "Imposed confidentiality (%(law)s): when a police notice imposes it, the "
                    "copies for the municipal recipients (%(recipients)s) carry the duty and this "
                    'text: "%(text)s"',
                    law=cite(basis, t),
                    recipients=", ".join(municipal),
                    text=imposed.copy_text,
                ),
            )
        )
    return out


def _overview(policy: PolicySet, t: Translator) -> Block:
    """One row per recipient role: how many rules, under which bases."""
    rows = []
    for recipient in sorted(policy.recipients.values(), key=lambda r: r.id):
        rules = [r for r in policy.rules if r.recipient == recipient.id]
        allows = [r for r in rules if r.effect is Effect.allow]
        bases = sorted({cite(policy.legal_bases[r.legal_basis], t) for r in allows})
        rows.append(
            (
                f"{recipient.name.of(t.lang)} ({recipient.id})",
                t.number(len(allows)),
                t.number(len(rules) - len(allows)),
                "; ".join(bases) or t.gettext("nothing: no rule"),
            )
        )
    headers = (
        t.gettext("recipient"),
        t.gettext("allow rules"),
        t.gettext("deny rules"),
        t.gettext("legal bases"),
    )
    return Block("table", headers=headers, rows=tuple(rows))


def _recipient_blocks(
    policy: PolicySet, recipient: Recipient, violations: list[proofs.Violation], t: Translator
) -> list[Block]:
    """A recipient's section: who it is, its rules, its invariants, what it never gets."""
    rules = [r for r in policy.rules if r.recipient == recipient.id]
    out = [
        Block("h2", f"{recipient.name.of(t.lang)} ({recipient.id})"),
        Block("p", f"{recipient.agency}. {text_of(recipient.description, t.lang)}".strip()),
    ]
    if not rules:
        return [*out, Block("p", t.gettext("No rule: this recipient receives nothing."))]
    for rule in rules:
        out += _rule_blocks(policy, rule, t)
    concerning = [i for i in policy.invariants if _concerns(i, recipient.id)]
    mine = [v for v in violations if policy_rule(policy, v.rule).recipient == recipient.id]
    out += [
        Block("h3", t.gettext("Invariants for this recipient")),
        invariants_table(concerning, mine, t),
        Block("h3", t.gettext("Never released to this recipient")),
        Block(
            "table",
            headers=(t.gettext("notice type"), t.gettext("fields")),
            rows=_never_released(rules, t),
        ),
    ]
    return out


def policy_rule(policy: PolicySet, rule_id: str) -> Rule:
    return next(r for r in policy.rules if r.id == rule_id)


def _concerns(invariant: Invariant, recipient: str) -> bool:
    form = invariant.check
    return not isinstance(form, NeverReceives) or form.recipient == recipient


def _rule_rows(policy: PolicySet, rule: Rule, t: Translator) -> list[tuple[str, str]]:
    basis = policy.legal_bases[rule.legal_basis]
    if rule.effect is Effect.deny:
        effect = t.gettext("denies")
    elif rule.urgent:
        effect = t.gettext(
            "releases the fields below; urgent: only for a notice flagged as danger to life or "
            "health"
        )
    else:
        effect = t.gettext("releases the fields below")
    rows = [
        (t.gettext("purpose"), rule.purpose.of(t.lang)),
        (
            t.gettext("from"),
            t.gettext("%(sender)s: %(type)s notices", sender=rule.sender, type=rule.notice_type),
        ),
        (t.gettext("effect"), effect),
        (
            t.gettext("when"),
            in_words(rule.condition, t) or t.gettext("(see the condition as written)"),
        ),
        (t.gettext("condition as written (CEL)"), rule.condition),
        (
            t.gettext("legal basis"),
            t.gettext(
                "%(law)s (%(id)s): %(summary)s",
                law=cite(basis, t),
                id=basis.id,
                summary=basis.summary.of(t.lang),
            ),
        ),
        (t.gettext("status of the citation"), t.gettext(STATUS[basis.status])),
        (t.gettext("in force"), validity(basis, t)),
        (t.gettext("source"), basis.source),
    ]
    if basis.conditions:
        rows.append((t.gettext("conditions of the basis"), basis.conditions.of(t.lang)))
    if basis.covers is not None:
        covered = ", ".join(basis.covers) or t.gettext("no field of a notice")
        rows.append((t.gettext("the basis covers only"), covered))
    if rule.effect is Effect.allow:
        required = [t.gettext(_REQUIRED[r]) if r in _REQUIRED else r.value for r in basis.requires]
        nothing = t.gettext("nothing beyond the rule")
        rows.append((t.gettext("the notice must carry"), "; ".join(required) or nothing))
        duties = "; ".join(_duties(policy, rule, t)) or t.gettext("none")
        rows.append((t.gettext("duties a disclosure triggers"), duties))
    questions = [
        q for q in policy.open_questions if rule.id in q.rules or rule.legal_basis in q.bases
    ]
    if questions:
        asked = "; ".join(f"{q.id}: {q.question.of(t.lang)}" for q in questions)
        rows.append((t.gettext("open questions"), asked))
    return rows


def _rule_blocks(policy: PolicySet, rule: Rule, t: Translator) -> list[Block]:
    out = [
        Block("h3", t.gettext("Rule %(rule)s", rule=rule.id)),
        Block(
            "table",
            headers=("", t.gettext("what the rule says")),
            rows=tuple(_rule_rows(policy, rule, t)),
        ),
    ]
    if rule.effect is Effect.allow:
        out.append(
            Block(
                "table",
                headers=(t.gettext("field released"), t.gettext("path"), t.gettext("how")),
                rows=tuple(
                    (field_label(p, t.lang), p, _how(op, t))
                    for p, op in rule.fields.items()
                    if op.name != "drop"
                ),
            )
        )
    return out


def _duties(policy: PolicySet, rule: Rule, t: Translator) -> list[str]:
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
            when = due(duty, t)
            if statuses:
                when = t.gettext(
                    "%(due)s, when the feedback is %(statuses)s",
                    due=when,
                    statuses=t.either(statuses),
                )
            out.append(
                t.gettext(
                    "%(id)s: %(summary)s (%(statute)s; %(when)s)",
                    id=duty.id,
                    summary=duty.summary.of(t.lang),
                    statute=duty.statute.of(t.lang),
                    when=when,
                )
            )
    if rule.urgent:
        out.append(
            t.gettext("review afterwards (an urgent disclosure is marked for mandatory review)")
        )
    return out


def _never_released(rules: list[Rule], t: Translator) -> tuple[tuple[str, str], ...]:
    """Per notice type: the leaf fields no allow rule of this recipient releases."""
    never = []
    for notice_type in sorted({r.notice_type for r in rules}):
        allows = [r for r in rules if r.notice_type == notice_type and r.effect is Effect.allow]
        withheld = sorted(
            p for p in _leaves(notice_type) if not any(r.plan.op_for(p) for r in allows)
        )
        named = ", ".join(
            t.gettext("%(label)s (%(path)s)", label=field_label(p, t.lang), path=p)
            for p in withheld
        )
        never.append((notice_type, named or t.gettext("(nothing)")))
    return tuple(never)


def markdown(policy: PolicySet, t: Translator) -> str:
    return to_markdown(blocks(policy, t))


def html_report(policy: PolicySet, t: Translator) -> str:
    return to_html(blocks(policy, t), t)
