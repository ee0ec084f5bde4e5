"""Policy test cases run from any CaseSuite: case files and their notices come in as text."""

from __future__ import annotations

from dataclasses import dataclass, field

from broker.core.policy import PolicySet
from broker.core.policy.cases import Status, run
from broker.core.policy.gate import assess
from tests.conftest import ROOT

CASE = """
notices:
  recruited: notices/recruited.json
  gone: notices/gone.json
cases:
  - name: the child welfare service gets the recruited child
    notice: recruited
    recipient: child-welfare
    expect: {decision: deliver, rule: incident-child-welfare-investigation}
  - name: a case on a notice that could not be read
    notice: gone
    recipient: school
    expect: {decision: deny}
"""


@dataclass
class MemorySuite:
    """A CaseSuite in memory: case files by name, notice texts by relative path."""

    files: dict[str, str]
    notices: dict[str, str] = field(default_factory=dict)

    def case_files(self) -> list[tuple[str, str]]:
        return sorted(self.files.items())

    def notice(self, rel: str) -> str:
        if rel not in self.notices:
            raise FileNotFoundError(rel)
        return self.notices[rel]


def test_cases_run_from_memory(policy: PolicySet) -> None:
    """A passing case, an unreadable notice (named with the error's type) and the case that
    needed it; a file that is not a case file is one error of its own."""
    recruited = (ROOT / "policies/tests/notices/recruited.json").read_text(encoding="utf-8")
    suite = MemorySuite(
        {"a.yaml": CASE, "b.yaml": "cases: {}"}, {"notices/recruited.json": recruited}
    )
    results = run(policy, suite).results
    assert [(r.file, r.name, r.status) for r in results] == [
        ("a.yaml", "(file)", Status.error),
        ("a.yaml", "the child welfare service gets the recruited child", Status.passed),
        ("a.yaml", "a case on a notice that could not be read", Status.error),
        ("b.yaml", "(file)", Status.error),
    ]
    assert results[0].problems == (
        "notice 'gone': cannot read notices/gone.json (FileNotFoundError)",
    )


def test_no_suite_runs_nothing_and_closes_the_gate(policy: PolicySet) -> None:
    """Without test cases nothing runs, and the gate names the missing cases."""
    assert run(policy, None).results == []
    problems = assess(policy, None, samples=50).problems
    assert [str(p) for p in problems if p.check == "test"] == [
        "tests/: no policy test cases (policy test)"
    ]
