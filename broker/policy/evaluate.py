"""Deny by default: a recipient gets a copy only if a rule for it applies in full.

A rule applies when (1) it matches the sender, notice type and recipient, (2) every
requirement of its legal basis is met by the notice (a necessity assessment, a consent
reference), and (3) its CEL condition is true. Rules are tried in file order; the first that
applies decides, and its field list alone decides what is released. If none applies, the
decision is deny and every rule's reason is kept for the audit record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from broker.models import LegalBasisRef, Outcome
from broker.policy.model import PolicySet, Requirement, Rule
from broker.redaction import Redacted, redact


@dataclass(frozen=True)
class Verdict:
    recipient: str
    outcome: Outcome
    rule: Rule | None
    legal_basis: LegalBasisRef | None
    reasons: tuple[str, ...]
    redacted: Redacted | None  # the recipient's copy, when delivered


def _unmet(rule: Rule, policy: PolicySet, doc: Mapping[str, Any]) -> list[str]:
    basis = policy.legal_bases[rule.legal_basis]
    reasons = []
    if Requirement.necessity in basis.requires and not doc.get("necessity"):
        reasons.append(
            f"necessity-missing: rule {rule.id} under {basis.id} requires the notice's "
            "necessity assessment"
        )
    if Requirement.consent in basis.requires and not doc.get("consent"):
        reasons.append(
            f"consent-missing: rule {rule.id} under {basis.id} requires a consent reference"
        )
    return reasons


def _condition(rule: Rule, policy: PolicySet, context: Mapping[str, Any]) -> str | None:
    try:
        result = policy.programs[rule.id].execute(dict(context))
    except Exception as exc:  # any evaluation error denies; the type names it
        return f"condition-error: rule {rule.id}: {type(exc).__name__}"
    if result is True:
        return None
    return f"condition-false: rule {rule.id}"


def decide(
    policy: PolicySet,
    *,
    sender: str,
    notice_type: str,
    recipient: str,
    doc: Mapping[str, Any],
    context: Mapping[str, Any],
) -> Verdict:
    """Decide one notice for one recipient.

    ``doc`` is the notice as JSON (None values dropped); ``context`` the CEL variables.
    """
    if recipient not in policy.recipients:
        return Verdict(
            recipient, Outcome.deny, None, None, (f"unknown-recipient: {recipient}",), None
        )
    rules = policy.rules_for(sender, notice_type, recipient)
    if not rules:
        reason = f"no-rule: no rule lets {sender} share {notice_type} notices with {recipient}"
        return Verdict(recipient, Outcome.deny, None, None, (reason,), None)
    reasons: list[str] = []
    for rule in rules:
        unmet = _unmet(rule, policy, doc)
        if not unmet and (failed := _condition(rule, policy, context)) is not None:
            unmet.append(failed)
        if unmet:
            reasons += unmet
            continue
        basis = policy.legal_bases[rule.legal_basis].ref()
        return Verdict(
            recipient,
            Outcome.deliver,
            rule,
            basis,
            (*reasons, f"allowed: rule {rule.id}"),
            redact(doc, rule.fields),
        )
    return Verdict(recipient, Outcome.deny, None, None, tuple(reasons), None)
