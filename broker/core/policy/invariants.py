"""Invariants proved over the rules, not sampled: every allow rule's field set and operators
are checked against each statement in invariants.yaml, for every path of the notice type.

Exhaustive because it reads the rules, not notices: a rule releases a path when the operator
deciding it (the most specific path in the rule, broker.core.redaction.Plan.op_for) is not
drop, so ``child: keep`` releases ``child.national_id`` and ``guardians: keep`` releases
``guardians[].phone``. Conservative in two ways: a rule counts whatever its condition says (a
condition that can never hold still has to satisfy the invariants), and a deny rule never
excuses an allow rule (that a deny condition covers every case is not proved here).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

from broker.core.notices import NOTICE_MODELS
from broker.core.paths import schema_paths
from broker.core.policy.model import (
    BasisCoversFields,
    BasisPermitsDisclosure,
    DiscretionaryRequiresDecision,
    Effect,
    Invariant,
    NeverLeaves,
    NeverReceives,
    PolicySet,
    Requirement,
    Rule,
)


@dataclass(frozen=True)
class Violation:
    """An invariant that does not hold: which, broken by which rule, releasing which field."""

    invariant: str
    rule: str
    field: str
    reason: str

    def __str__(self) -> str:
        return f"invariant {self.invariant}: rule {self.rule}: '{self.field}': {self.reason}"


@cache
def _paths(notice_type: str) -> frozenset[str]:
    """Every path a notice of this type can contain, over all its versions."""
    return frozenset().union(
        *(schema_paths(m) for (t, _), m in NOTICE_MODELS.items() if t == notice_type)
    )


def _beneath(parent: str, path: str) -> bool:
    return path.startswith((parent + ".", parent + "[]"))


@cache
def _leaves(notice_type: str, field: str) -> tuple[str, ...]:
    """The leaf paths of a notice type at or beneath ``field``, sorted: what a copy can hold."""
    paths = _paths(notice_type)
    under = [p for p in paths if p == field or _beneath(field, p)]
    return tuple(sorted(p for p in under if not any(_beneath(p, q) for q in paths)))


@cache
def _all_leaves(notice_type: str) -> tuple[str, ...]:
    paths = _paths(notice_type)
    return tuple(sorted(p for p in paths if not any(_beneath(p, q) for q in paths)))


def known_paths() -> frozenset[str]:
    """Every path of any notice type: an invariant naming anything else is a typo that would
    hold vacuously, so the loader refuses it."""
    return frozenset().union(*(_paths(t) for t, _ in NOTICE_MODELS))


def _released(
    rule: Rule, fields: list[str], tolerated: frozenset[str]
) -> Iterator[tuple[str, str]]:
    """(leaf path, operator) for each path at or beneath ``fields`` the rule releases with an
    operator the invariant does not tolerate."""
    seen: set[str] = set()
    for field in fields:
        for path in _leaves(rule.notice_type, field):
            op = rule.plan.op_for(path)
            if op is not None and op.name not in tolerated and path not in seen:
                seen.add(path)
                yield path, str(op)


def _never_receives(policy: PolicySet, inv: Invariant, form: NeverReceives) -> list[Violation]:
    out = []
    tolerated = frozenset(t.value for t in form.tolerates)
    for rule in _allows(policy):
        basis = policy.legal_bases[rule.legal_basis]
        if rule.recipient != form.recipient or set(form.unless_basis_requires) & set(
            basis.requires
        ):
            continue
        out += [
            Violation(inv.id, rule.id, path, f"released to {rule.recipient} ({op})")
            for path, op in _released(rule, form.fields, tolerated)
        ]
    return out


def _never_leaves(policy: PolicySet, inv: Invariant, form: NeverLeaves) -> list[Violation]:
    tolerated = frozenset(t.value for t in form.tolerates)
    return [
        Violation(inv.id, rule.id, path, f"released to {rule.recipient} ({op})")
        for rule in _allows(policy)
        for path, op in _released(rule, form.fields, tolerated)
    ]


def _basis_permits(policy: PolicySet, inv: Invariant) -> list[Violation]:
    out = []
    for rule in _allows(policy):
        basis = policy.legal_bases[rule.legal_basis]
        if not basis.permits_disclosure:
            out += [
                Violation(
                    inv.id,
                    rule.id,
                    path,
                    f"released to {rule.recipient} under {basis.id} ({basis.statute.name} "
                    f"{basis.citation}), which does not permit disclosure",
                )
                for path, op in rule.fields.items()
                if op.name != "drop"
            ]
    return out


def _decision_required(policy: PolicySet, inv: Invariant) -> list[Violation]:
    """Every allow rule under a discretionary basis needs the controller's decision: the
    basis must require it (loading refuses the basis already; this states it as a promise)."""
    out = []
    for rule in _allows(policy):
        basis = policy.legal_bases[rule.legal_basis]
        if basis.discretionary and Requirement.controller_decision not in basis.requires:
            reason = (
                f"cites {basis.id} ({basis.statute.name} {basis.citation}), discretionary, "
                "which does not require the controller's decision"
            )
            out.append(Violation(inv.id, rule.id, "legal_basis", reason))
    return out


def _beyond_cover(policy: PolicySet, inv: Invariant) -> list[Violation]:
    """Every leaf a rule releases lies at or beneath a path its basis covers, for the bases
    whose content the law limits (``covers``); in any form, since a masked or generalised
    value is still a disclosure of that field."""
    out = []
    for rule in _allows(policy):
        basis = policy.legal_bases[rule.legal_basis]
        if basis.covers is None:
            continue
        covered = basis.covers
        for path in _all_leaves(rule.notice_type):
            op = rule.plan.op_for(path)
            if op is None or path in covered or any(_beneath(c, path) for c in covered):
                continue
            reason = (
                f"released to {rule.recipient} ({op}) under {basis.id} ({basis.statute.name} "
                f"{basis.citation}), which covers only {', '.join(covered)}"
            )
            out.append(Violation(inv.id, rule.id, path, reason))
    return out


def _allows(policy: PolicySet) -> list[Rule]:
    return [r for r in policy.rules if r.effect is Effect.allow]


def check(policy: PolicySet) -> list[Violation]:
    """Every violation of every invariant in the policy set, in file order; empty: all hold."""
    out: list[Violation] = []
    for inv in policy.invariants:
        form = inv.check
        if isinstance(form, NeverReceives):
            out += _never_receives(policy, inv, form)
        elif isinstance(form, NeverLeaves):
            out += _never_leaves(policy, inv, form)
        elif isinstance(form, BasisPermitsDisclosure):
            out += _basis_permits(policy, inv)
        elif isinstance(form, DiscretionaryRequiresDecision):
            out += _decision_required(policy, inv)
        elif isinstance(form, BasisCoversFields):
            out += _beyond_cover(policy, inv)
    return out
