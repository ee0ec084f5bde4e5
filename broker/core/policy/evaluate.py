"""Deny by default: a recipient gets a copy only if a rule for it applies in full.

Precedence (documented for lawyers in policies/rules.yaml and policies/README.md):

1. Only rules for the notice's (sender, notice type, recipient) are considered. None: deny.
2. A ``deny`` rule whose condition is true denies, whatever the allow rules say and wherever
   it stands in the file. A deny rule whose condition cannot be evaluated also denies (fail
   closed).
3. Otherwise allow rules are tried in file order; for a notice flagged
   ``danger_to_life_or_health`` the ``urgent`` rules first, and for any other notice urgent
   rules are not tried at all. A rule applies when its legal basis is in force on the
   notice's issue date, every requirement of the basis is met by the notice (a necessity
   assessment, a consent reference) and its CEL condition is true. The first that applies
   decides, and its field map alone decides what is released and how (no union of rules: one
   disclosure, one legal basis). Deny rules deny whatever their basis' validity (fail closed).
4. If none applies: deny, with every rule's reason kept for the audit record.

``choose`` is the one walk over the rules: the worker's decision (``decide``) and
`broker policy explain` (the ``steps`` of its Choice) come from the same call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import cel

from broker.core.policy.model import Effect, PolicySet, Requirement, Rule, basis_in_force
from broker.core.policy.view import project
from broker.core.records import Confidentiality, ControllerDecisionRef, LegalBasisRef, Outcome
from broker.core.redaction import Redacted, redact

Step = tuple[Rule, str]  # a rule considered, and what became of it
ADULT_AGE = 18  # a child is under 18 (barnevernsloven, the Convention on the Rights of the Child)


@dataclass(frozen=True)
class Choice:
    """The deciding rule for one recipient (None: denied by default), the reasons for the
    audit record, and every rule for the recipient in the order considered, with what became
    of it (``applies``, why it does not, or ``not tried``)."""

    outcome: Outcome
    rule: Rule | None
    reasons: tuple[str, ...]
    steps: tuple[Step, ...] = ()


@dataclass(frozen=True)
class Verdict:
    recipient: str
    outcome: Outcome
    rule: Rule | None
    legal_basis: LegalBasisRef | None
    reasons: tuple[str, ...]
    redacted: Redacted | None  # the recipient's copy, when delivered
    review_required: bool = False  # delivered under an urgent rule
    steps: tuple[Step, ...] = ()  # how the rules were walked (Choice.steps)
    # the controller's decision, on a delivery under a basis that requires it
    controller_decision: ControllerDecisionRef | None = None
    # the duty of confidentiality the police imposed on this (municipal) recipient
    confidentiality: Confidentiality | None = None


class Facts:
    """One notice as the rules see it: built once, shared by every recipient's decision.

    Holds the projection of the notice that the conditions read (see broker.core.policy.view), its
    CEL context, and each condition's result once evaluated.
    """

    __slots__ = (
        "_ctx",
        "_results",
        "as_of",
        "child_age",
        "consent",
        "decision",
        "necessity",
        "urgent",
        "variables",
    )

    def __init__(
        self,
        policy: PolicySet,
        notice_type: str,
        doc: Mapping[str, Any],
        child_age: int,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        view = policy.views.get(notice_type)
        shown = dict(doc) if view is None else project(doc, view)
        self.variables: dict[str, Any] = {**(extra or {}), "notice": shown, "child_age": child_age}
        self.necessity = bool(doc.get("necessity"))
        self.consent = bool(doc.get("consent"))
        self.urgent = doc.get("danger_to_life_or_health") is True
        self.as_of = _issued_on(doc.get("issued_at"))
        self.child_age = child_age
        self.decision = decision_problem(doc)
        self._ctx: Any = None
        self._results: dict[str, str | None] = {}

    @classmethod
    def from_context(
        cls, policy: PolicySet, notice_type: str, doc: Mapping[str, Any], context: Mapping[str, Any]
    ) -> Facts:
        extra = {k: v for k, v in context.items() if k not in ("notice", "child_age")}
        return cls(policy, notice_type, doc, int(context["child_age"]), extra)

    def condition(self, rule: Rule, policy: PolicySet) -> str | None:
        """None if the rule's condition is true, else the reason (false, or an error)."""
        if rule.id in self._results:
            return self._results[rule.id]
        if self._ctx is None:
            self._ctx = cel.Context(self.variables)
        try:
            result = policy.programs[rule.id].execute(self._ctx)
        except Exception as exc:  # any evaluation error: the rule does not apply; type names it
            reason: str | None = f"condition-error: rule {rule.id}: {type(exc).__name__}"
        else:
            reason = None if result is True else f"condition-false: rule {rule.id}"
        self._results[rule.id] = reason
        return reason


def _issued_on(issued_at: object) -> date | None:
    if not isinstance(issued_at, str):
        return None
    try:
        return datetime.fromisoformat(issued_at).astimezone(UTC).date()
    except ValueError:
        return None


_NO_DECISION = "no decision"


def decision_problem(doc: Mapping[str, Any]) -> str | None:
    """Why the notice's controller decision does not count (None: it does): absent
    (``_NO_DECISION``), or dated after the notice was issued (a decision cannot follow the
    disclosure it permits)."""
    decision = doc.get("controller_decision")
    if not isinstance(decision, Mapping):
        return _NO_DECISION
    try:
        decided = datetime.fromisoformat(str(decision.get("decided_at")))
        issued = datetime.fromisoformat(str(doc.get("issued_at")))
        late = decided > issued
    except (TypeError, ValueError):  # unreadable or naive: fail closed
        return "the controller's decision has no readable time"
    return "the controller's decision is dated after the notice was issued" if late else None


def _not_in_force(rule: Rule, policy: PolicySet, facts: Facts) -> str | None:
    """Why the rule's basis does not hold on the notice's issue date (None: it does). A notice
    without a readable date holds only under a basis with no validity period (fail closed)."""
    basis = policy.legal_bases[rule.legal_basis]
    day = facts.as_of
    if day is None:
        bounded = basis.valid_from or basis.valid_to or basis.commencement
        return (
            f"basis-not-in-force: rule {rule.id} cites {basis.id}: no issue date"
            if bounded
            else None
        )
    if basis.in_force(day):
        return None
    now = basis_in_force(policy.legal_bases, basis.id, day)
    return f"basis-not-in-force: rule {rule.id} cites {basis.id}, not in force on {day}" + (
        f" (in force: {now.id})" if now else ""
    )


def _unmet(rule: Rule, policy: PolicySet, facts: Facts) -> list[str]:
    basis = policy.legal_bases[rule.legal_basis]
    not_in_force = _not_in_force(rule, policy, facts)
    reasons = [not_in_force] if not_in_force else []
    if Requirement.necessity in basis.requires and not facts.necessity:
        reasons.append(
            f"necessity-missing: rule {rule.id} under {basis.id} requires the notice's "
            "necessity assessment"
        )
    if Requirement.consent in basis.requires and not facts.consent:
        reasons.append(
            f"consent-missing: rule {rule.id} under {basis.id} requires a consent reference"
        )
    if Requirement.controller_decision in basis.requires and facts.decision:
        why = (
            " requires the controller's written decision"
            if facts.decision == _NO_DECISION
            else f": {facts.decision}"
        )
        reasons.append(f"controller-decision-missing: rule {rule.id} under {basis.id}{why}")
    return reasons


def not_a_child(policy: PolicySet, facts: Facts, notice_type: str) -> str | None:
    """Why no rule is tried for this notice's subject (None: the subject is a child, or the
    notice type is decided for adults too, as policies/rules.yaml's ``subjects`` says)."""
    if facts.child_age < ADULT_AGE or notice_type in policy.subjects.adults_decided_for:
        return None
    return (
        f"not-a-child: the subject was {ADULT_AGE} or older on the day the notice was issued; "
        "no rule is tried"
    )


_NOT_FLAGGED = "not tried: urgent rule, notice not flagged"


def choose(  # noqa: PLR0911 - one return per way a decision ends reads best
    policy: PolicySet, facts: Facts, sender: str, notice_type: str, recipient: str
) -> Choice:
    """The deciding rule for one recipient (see the module docstring for precedence), and
    the walk that found it."""
    if recipient not in policy.recipients:
        return Choice(Outcome.deny, None, (f"unknown-recipient: {recipient}",))
    rules = policy.rules_for(sender, notice_type, recipient)
    if adult := not_a_child(policy, facts, notice_type):  # before any requirement is checked
        return Choice(
            Outcome.deny, None, (adult,), tuple((r, "not tried: not-a-child") for r in rules)
        )
    if not rules:
        reason = f"no-rule: no rule lets {sender} share {notice_type} notices with {recipient}"
        return Choice(Outcome.deny, None, (reason,))
    allows = [r for r in rules if r.effect is Effect.allow]
    if facts.urgent:
        allows.sort(key=lambda r: not r.urgent)  # stable: file order within each group
    order = [*(r for r in rules if r.effect is Effect.deny), *allows]
    steps: list[Step] = []

    def decided(outcome: Outcome, rule: Rule | None, reasons: tuple[str, ...]) -> Choice:
        for later in order[len(steps) :]:  # the rules after the deciding one
            if later.urgent and not facts.urgent:
                steps.append((later, _NOT_FLAGGED))
            else:
                steps.append((later, f"not tried: rule {rule.id} decided" if rule else "not tried"))
        return Choice(outcome, rule, reasons, tuple(steps))

    for rule in order[: len(order) - len(allows)]:  # deny rules first, wherever they stand
        failed = facts.condition(rule, policy)
        steps.append((rule, "applies: denies" if failed is None else failed))
        if failed is None:
            return decided(
                Outcome.deny, rule, (f"denied: rule {rule.id} under {rule.legal_basis}",)
            )
        if failed.startswith("condition-error"):  # fail closed
            return decided(Outcome.deny, rule, (failed,))
    if not any(facts.urgent or not r.urgent for r in allows):
        reason = (
            f"no-rule: only urgent rules let {sender} share {notice_type} notices with "
            f"{recipient}, and the notice is not flagged danger_to_life_or_health"
        )
        return decided(Outcome.deny, None, (reason,))
    reasons: list[str] = []
    for rule in allows:
        if rule.urgent and not facts.urgent:
            steps.append((rule, _NOT_FLAGGED))
            continue
        unmet = _unmet(rule, policy, facts)
        if not unmet and (failed := facts.condition(rule, policy)) is not None:
            unmet.append(failed)
        steps.append((rule, "; ".join(unmet) if unmet else "applies"))
        if not unmet:
            return decided(Outcome.deliver, rule, (*reasons, f"allowed: rule {rule.id}"))
        reasons += unmet
    return decided(Outcome.deny, None, tuple(reasons))


def decide(
    policy: PolicySet,
    *,
    sender: str,
    notice_type: str,
    recipient: str,
    doc: Mapping[str, Any],
    context: Mapping[str, Any] | None = None,
    facts: Facts | None = None,
    pseudonym_key: bytes | None = None,
) -> Verdict:
    """Decide one notice for one recipient, and redact its copy when delivered.

    ``doc`` is the notice as JSON (None values dropped). Pass ``facts`` (built once per
    notice) when deciding for several recipients; otherwise ``context`` (the CEL variables:
    ``notice`` and ``child_age``). ``pseudonym_key`` is the recipient's own key.
    """
    if facts is None:
        if context is None:
            raise ValueError("decide needs facts or a context")
        facts = Facts.from_context(policy, notice_type, doc, context)
    choice = choose(policy, facts, sender, notice_type, recipient)
    rule = choice.rule
    if choice.outcome is Outcome.deny or rule is None:
        return Verdict(
            recipient, Outcome.deny, rule, None, choice.reasons, None, steps=choice.steps
        )
    basis = policy.legal_bases[rule.legal_basis]
    return Verdict(
        recipient,
        Outcome.deliver,
        rule,
        basis.ref(),
        choice.reasons,
        redact(doc, rule.plan, pseudonym_key=pseudonym_key, as_of=facts.as_of),
        review_required=rule.urgent,
        steps=choice.steps,
        controller_decision=(
            _decision_ref(doc) if Requirement.controller_decision in basis.requires else None
        ),
        confidentiality=_confidentiality(policy, recipient, doc),
    )


def _decision_ref(doc: Mapping[str, Any]) -> ControllerDecisionRef:
    decision = doc["controller_decision"]  # present: the requirement was met
    return ControllerDecisionRef(
        reference=decision["reference"],
        role=decision["role"],
        decided_by=decision["decided_by"],
        decided_at=decision["decided_at"],
    )


def _confidentiality(
    policy: PolicySet, recipient: str, doc: Mapping[str, Any]
) -> Confidentiality | None:
    """The duty the police imposed (prl § 35 second paragraph) if the notice imposes one and
    the recipient is a municipal body. The text is the policy's, bokmål then English in one
    string (ImposedConfidentiality.copy_text), then the reason the notice gives."""
    imposed, settings = doc.get("confidentiality_imposed"), policy.imposed_confidentiality
    if not isinstance(imposed, Mapping) or settings is None:
        return None
    if not policy.recipients[recipient].municipal:
        return None
    basis = policy.legal_bases[settings.legal_basis].ref()
    return Confidentiality(
        basis=basis, text=f"{settings.copy_text} {imposed.get('reason', '')}".strip()
    )
