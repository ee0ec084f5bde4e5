"""`broker policy check` beyond validity: what a lawyer should look at before deploying.

Static findings (legal bases nobody cites, rules citing a basis that is not confirmed — a
note when an open question puts it to a lawyer — or that has a successor, allow rules after an
unconditional one) and findings from a sample of
synthetic notices (rules that never decide — unreachable or shadowed — and rules that
overlap, where file order decides).
A sample cannot prove a rule unreachable, so those findings say "in N sampled notices".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from broker.core.notices import NOTICE_SENDERS
from broker.core.policy.evaluate import Facts, _unmet, choose
from broker.core.policy.model import (
    Commencement,
    Effect,
    PolicySet,
    QuestionStatus,
    Rule,
    Status,
)
from broker.core.policy.simulate import child_age_of
from broker.core.policy.synthetic import generate
from broker.core.records import Outcome


class Severity(StrEnum):
    error = "error"
    warning = "warning"
    info = "info"


@dataclass(frozen=True)
class Finding:
    severity: Severity
    subject: str  # a rule or legal basis id
    code: str
    message: str


def _static(policy: PolicySet) -> list[Finding]:
    out: list[Finding] = []
    cited = {r.legal_basis for r in policy.rules}
    out += [
        Finding(Severity.info, b.id, "basis-uncited", f"no rule cites {b.statute} {b.citation}")
        for b in policy.legal_bases.values()
        if b.id not in cited
    ]
    for rule in policy.rules:
        basis = policy.legal_bases[rule.legal_basis]
        if basis.status is not Status.confirmed:
            out.append(_not_confirmed(policy, rule))
        out += _successor(policy, rule)
    for key, rules in policy.index.items():
        for group in (True, False):
            allows = [r for r in rules if r.effect is Effect.allow and r.urgent is group]
            for i, rule in enumerate(allows[:-1]):
                basis = policy.legal_bases[rule.legal_basis]
                if rule.condition.strip() == "true" and not basis.requires:
                    out += [
                        Finding(
                            Severity.warning,
                            later.id,
                            "unreachable",
                            f"never decides: {rule.id} before it always applies ({key[2]})",
                        )
                        for later in allows[i + 1 :]
                    ]
    return out


def _not_confirmed(policy: PolicySet, rule: Rule) -> Finding:
    """A rule citing a basis that is guidance or our reading: a warning (the gate stops the
    worker) unless an open question for a lawyer names both the rule and the basis, which puts
    the reading on record and in the lawyers' report: then a note naming the question."""
    basis = policy.legal_bases[rule.legal_basis]
    message = f"cites {basis.id} ({basis.citation}), whose status is {basis.status}"
    asked = [
        q.id
        for q in policy.open_questions
        if q.status is QuestionStatus.open and basis.id in q.bases and rule.id in q.rules
    ]
    if asked:
        return Finding(
            Severity.info,
            rule.id,
            "basis-not-confirmed",
            f"{message}; for a lawyer: open question {', '.join(asked)}",
        )
    return Finding(Severity.warning, rule.id, "basis-not-confirmed", message)


def _successor(policy: PolicySet, rule: Rule) -> list[Finding]:
    """A rule citing a basis that is being replaced stops applying when its successor enters
    into force: a note while the commencement is pending, a warning once the date is set and
    no rule for the same recipient cites the successor yet."""
    basis = policy.legal_bases[rule.legal_basis]
    if basis.successor is None:
        return []
    successor = policy.legal_bases[basis.successor]
    key = (rule.sender, rule.notice_type, rule.recipient)
    if any(r.legal_basis == successor.id for r in policy.index.get(key, ())):
        return []
    pending = successor.commencement is Commencement.pending
    when = "commencement pending" if pending else f"in force from {successor.valid_from}"
    return [
        Finding(
            Severity.info if pending else Severity.warning,
            rule.id,
            "basis-has-successor",
            f"cites {basis.id} ({basis.statute.name} {basis.citation}), replaced by "
            f"{successor.id} ({successor.statute.name} {successor.citation}, {when}): "
            "cite the successor from that date",
        )
    ]


def _sampled(
    policy: PolicySet, docs: Iterable[Mapping[str, Any]]
) -> tuple[int, Counter[str], Counter[str], Counter[tuple[str, str]]]:
    applies: Counter[str] = Counter()
    decides: Counter[str] = Counter()
    overlaps: Counter[tuple[str, str]] = Counter()
    n = 0
    for doc in docs:
        notice_type = str(doc["notice_type"])
        sender = NOTICE_SENDERS[notice_type]
        facts = Facts(policy, notice_type, doc, child_age_of(doc))
        n += 1
        for recipient in policy.recipients:
            rules = policy.rules_for(sender, notice_type, recipient)
            applying = [r for r in rules if _applies(r, policy, facts)]
            applies.update(r.id for r in applying)
            allows = [r for r in applying if r.effect is Effect.allow]
            allows.sort(key=lambda r: not r.urgent)  # the order choose() tries them in
            overlaps.update((a.id, b.id) for i, a in enumerate(allows) for b in allows[i + 1 :])
            choice = choose(policy, facts, sender, notice_type, recipient)
            rule = choice.rule
            if rule is not None and (
                choice.outcome is Outcome.deliver or rule.effect is Effect.deny
            ):
                decides[rule.id] += 1
    return n, applies, decides, overlaps


def _applies(rule: Rule, policy: PolicySet, facts: Facts) -> bool:
    if rule.urgent and not facts.urgent:
        return False
    if rule.effect is Effect.allow and _unmet(rule, policy, facts):
        return False
    return facts.condition(rule, policy) is None


def lint(
    policy: PolicySet,
    *,
    samples: int = 5000,
    seed: int = 0,
    extra: Iterable[Mapping[str, Any]] = (),
    tested: set[str] | None = None,
) -> list[Finding]:
    """Every finding, most severe first. ``extra``: notices to sample besides synthetic ones
    (the policy test cases' notices); ``tested``: rules some policy test case covers."""
    out = _static(policy)
    docs = [*generate(samples, seed), *extra]
    n, applies, decides, overlaps = _sampled(policy, docs)
    for rule in policy.rules:
        if not applies[rule.id]:
            out.append(
                Finding(
                    Severity.warning,
                    rule.id,
                    "never-applies",
                    f"its condition held in none of {n} sampled notices: unreachable?",
                )
            )
        elif rule.effect is Effect.allow and not decides[rule.id]:
            out.append(
                Finding(
                    Severity.warning,
                    rule.id,
                    "shadowed",
                    f"applied in {applies[rule.id]} of {n} sampled notices but never decided: "
                    "an earlier rule always applied first",
                )
            )
        if tested is not None and rule.id not in tested:
            out.append(Finding(Severity.warning, rule.id, "untested", "no policy test case"))
    for (a, b), k in sorted(overlaps.items()):
        out.append(
            Finding(
                Severity.info,
                b,
                "overlap",
                f"{a} and {b} both applied to {k} of {n} sampled notices; {a} decides (precedence)",
            )
        )
    order = {Severity.error: 0, Severity.warning: 1, Severity.info: 2}
    return sorted(out, key=lambda f: (order[f.severity], f.subject, f.code))
