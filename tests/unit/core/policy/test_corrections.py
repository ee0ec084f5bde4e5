"""Each correction shared/legal-bases.md lists, undone in a copy of policies/, closes the
deployment gate naming the rule (`broker policy check --strict` and `broker policy test` run
the same assessment): the shipped policies cannot slide back to a mistake unnoticed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from broker.adapters.policy_files import gate, load_policy
from broker.core.errors import PolicyError
from broker.testing.policies import edit_rule
from tests.conftest import ROOT


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", target)
    return target


# (correction in shared/legal-bases.md, rule, old text, the mistake reintroduced)
MISTAKES = [
    (
        "1 SaLTo per-child copies under prl § 24 nr. 2",
        "risk-salto-cooperation",
        "legal_basis: prl-27-4",
        "legal_basis: prl-24-2",
    ),
    (
        "2 urgent school disclosures under strl § 196",
        "incident-school-urgent-offence",
        "legal_basis: prl-27-1",
        "legal_basis: strl-196",
    ),
    (
        "3 Barnevernvakta's urgent copy under prl § 27",
        "incident-barnevernvakta-urgent",
        "legal_basis: prl-30",
        "legal_basis: prl-27-1",
    ),
    (
        "4 child welfare for a suspect under 18 under bvl § 13-2",
        "incident-child-welfare-investigation",
        "legal_basis: prf-10-2",
        "legal_basis: bvl-13-2",
    ),
    (
        "6 the school's concern report under bvl § 13-2 with only 'under 18'",
        "concern-report-child-welfare-duty",
        "legal_basis: opl-24-3",
        "legal_basis: bvl-13-2",
    ),
]


@pytest.mark.parametrize(
    ("correction", "rule", "old", "new"), MISTAKES, ids=[m[0] for m in MISTAKES]
)
def test_undoing_a_correction_closes_the_gate_naming_the_rule(
    tmp_path: Path, correction: str, rule: str, old: str, new: str
) -> None:
    copy = _copy(tmp_path)
    assert gate(copy) == []  # the copy passes before the mistake
    edit_rule(copy, rule, old, new)
    problems = [str(p) for p in gate(copy)]
    assert problems, correction
    assert any(rule in p for p in problems), problems


def test_the_school_reporting_on_under_18_alone_is_caught(tmp_path: Path) -> None:
    """Correction 6 in full: the old rule's condition (only 'under 18') lets the duty rule
    decide every report, so the below-threshold report that needs consent is caught."""
    copy = _copy(tmp_path)
    policy = load_policy(copy)
    duty = next(r for r in policy.rules if r.id == "concern-report-child-welfare-duty")
    edit_rule(copy, duty.id, duty.condition, "child_age < 18")
    problems = [str(p) for p in gate(copy)]
    assert any("concern-report-child-welfare" in p for p in problems), problems


def test_a_discretionary_disclosure_without_a_controller_decision_is_refused(
    tmp_path: Path,
) -> None:
    """Correction 5: `requires: [necessity]` alone on a discretionary basis does not load."""
    copy = _copy(tmp_path)
    path = copy / "legal-bases.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index("  - id: prl-30\n")
    end = text.index("\n  - id: ", start + 1)
    entry = text[start:end]
    assert "requires: [necessity, controller-decision]" in entry
    path.write_text(
        text[:start] + entry.replace(", controller-decision]", "]") + text[end:], encoding="utf-8"
    )
    with pytest.raises(PolicyError) as exc:
        load_policy(copy)
    assert any(
        "prl-30" in p and "incident-child-welfare-recipient-task" in p for p in exc.value.problems
    )


def test_the_youth_club_without_its_rule_fails_its_test_case(tmp_path: Path) -> None:
    """Correction 7: the youth club is a public body with a rule; taking it away (the old "no
    legal basis") fails the test case that expects its delivery, naming the rule."""
    copy = _copy(tmp_path)
    path = copy / "rules.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index("  - id: risk-youth-club-prevent\n")
    end = text.find("\n  - id: ", start + 1)
    path.write_text(text[:start] + text[end + 1 :], encoding="utf-8")
    problems = [str(p) for p in gate(copy)]
    assert any("risk-youth-club-prevent" in p for p in problems), problems
