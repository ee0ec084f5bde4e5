"""The deployment gate: a policy set the worker may run. Valid (load_policy), no lint warning
(`broker policy check --strict`) and every declarative case passing (`broker policy test`).

The worker calls ``require`` before it waits for Kafka and `broker policy check --strict` calls
``assess``: one function decides for both, so what a lawyer checks is what the worker enforces.
Pure apart from reading the policy directory; deterministic (the lint samples with a fixed seed).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from broker.core.errors import PolicyError
from broker.core.policy.cases import Run, Status, run
from broker.core.policy.lint import Finding, Severity, lint
from broker.core.policy.load import load_policy
from broker.core.policy.model import PolicySet

SAMPLES = 5000  # synthetic notices the lint samples, as `broker policy check` does by default


@dataclass(frozen=True)
class Problem:
    """One reason the gate is closed: which check, about what (a rule, basis or case), why."""

    check: str  # "check --strict" or "test"
    subject: str
    reason: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.reason} (policy {self.check})"


@dataclass(frozen=True)
class Assessment:
    findings: list[Finding]
    cases: Run

    @property
    def problems(self) -> list[Problem]:
        out = [
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


def assess(policy: PolicySet, *, samples: int = SAMPLES, seed: int = 0) -> Assessment:
    """Run the policy test cases and the lint (with their coverage) over a loaded policy set."""
    tests = Path(policy.directory) / "tests"
    cases = run(policy, tests)
    covered = cases.covered() if tests.is_dir() else None
    findings = lint(policy, samples=samples, seed=seed, tested=covered)
    return Assessment(findings, cases)


def gate(directory: Path | str, *, samples: int = SAMPLES) -> list[Problem]:
    """Every reason the policy set in ``directory`` may not be deployed; empty: it may.
    Raises PolicyError if it does not even load."""
    return assess(load_policy(directory), samples=samples).problems


def require(directory: Path | str, *, samples: int = SAMPLES) -> PolicySet:
    """The policy set, if it passes the gate; else PolicyError naming each rule or case."""
    policy = load_policy(directory)
    problems = assess(policy, samples=samples).problems
    if problems:
        raise PolicyError(str(directory), [str(p) for p in problems])
    return policy
