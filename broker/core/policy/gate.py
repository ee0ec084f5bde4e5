"""The deployment gate: a policy set the worker may run. Valid (broker.core.policy.load), every
invariant holding (broker.core.policy.invariants, `broker policy check`), no lint warning
(`broker policy check --strict`) and every declarative case passing (`broker policy test`).

The worker calls ``require`` (broker.adapters.policy_files) before it waits for Kafka and
`broker policy check --strict` calls ``assess``: one function decides for both, so what a lawyer
checks is what the worker enforces. Pure (the test cases come in as a CaseSuite) and
deterministic (the lint samples with a fixed seed).
"""

from __future__ import annotations

from dataclasses import dataclass

from broker.core.policy.cases import CaseSuite, Run, Status, run
from broker.core.policy.invariants import Violation, check
from broker.core.policy.lint import Finding, Severity, lint
from broker.core.policy.model import PolicySet

SAMPLES = 5000  # synthetic notices the lint samples, as `broker policy check` does by default


@dataclass(frozen=True)
class Problem:
    """One reason the gate is closed: which check, about what (a rule, basis or case), why."""

    check: str  # "check" (an invariant), "check --strict" or "test"
    subject: str
    reason: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.reason} (policy {self.check})"


@dataclass(frozen=True)
class Assessment:
    violations: list[Violation]
    findings: list[Finding]
    cases: Run

    @property
    def problems(self) -> list[Problem]:
        out = [
            Problem("check", v.rule, f"invariant {v.invariant}: '{v.field}' {v.reason}")
            for v in self.violations
        ]
        out += [
            Problem("check --strict", f.subject, f"{f.code}: {f.message}")
            for f in self.findings
            if f.severity is not Severity.info
        ]
        if not self.cases.results:
            out.append(Problem("test", "tests/", "no policy test cases"))
        out += [
            Problem(
                "test",
                f"tests/{r.file}: case '{r.name}'",
                f"{r.status.value.lower()}: " + "; ".join(r.problems),
            )
            for r in self.cases.results
            if r.status is not Status.passed
        ]
        return out


def assess(
    policy: PolicySet, suite: CaseSuite | None, *, samples: int = SAMPLES, seed: int = 0
) -> Assessment:
    """Check the invariants, run the policy test cases (None: there are none) and the lint,
    with their coverage, over a loaded policy set."""
    cases = run(policy, suite)
    covered = cases.covered() if suite is not None else None
    findings = lint(policy, samples=samples, seed=seed, tested=covered)
    return Assessment(check(policy), findings, cases)
