"""The policy engine: precedence, urgent rules, condition views, the shipped test cases and
their coverage, lint, the lawyers' report and the what-if simulation."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from broker.adapters.locale import load_translator
from broker.adapters.policy_files import CaseFolder, load_policy
from broker.core.policy import Facts, PolicySet
from broker.core.policy.cases import run
from broker.core.policy.lint import lint
from broker.core.policy.report import html_report, markdown
from broker.core.policy.simulate import Simulator, report
from broker.core.policy.synthetic import generate
from broker.core.policy.view import project, references
from broker.core.records import Outcome
from broker.testing.policies import verdict
from tests.conftest import ROOT

POLICIES = ROOT / "policies"

EN = load_translator("en")  # the report tests here read the English report


def _verdict(policy: PolicySet, doc: dict[str, Any], recipient: str) -> Any:
    """Typed loosely: these tests read the parts of a verdict they expect to be there."""
    return verdict(policy, doc, recipient)


@pytest.fixture
def policy_copy(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target)
    return target


def _append_rule(directory: Path, text: str) -> PolicySet:
    rules = directory / "rules.yaml"
    rules.write_text(rules.read_text(encoding="utf-8") + "\n" + text, encoding="utf-8")
    return load_policy(directory)


# --- precedence ------------------------------------------------------------------------------


def test_deny_rule_overrides_an_earlier_allow(
    policy_copy: Path, notice: Callable[..., dict[str, Any]]
) -> None:
    """A deny rule placed after the allow rule still wins: deny overrides allow."""
    policy = _append_rule(
        policy_copy,
        """  - id: risk-school-deny-test
    effect: deny
    sender: police
    notice_type: risk
    recipient: school
    legal_basis: prl-23
    purpose: {nb: prøve, en: test}
    condition: "'staff' in notice.risk.at_risk"
""",
    )
    v = _verdict(policy, notice("threat"), "school")
    assert v.outcome is Outcome.deny
    assert v.rule.id == "risk-school-deny-test"
    assert v.redacted is None


def test_first_applicable_allow_decides_not_a_union(
    policy_copy: Path, notice: Callable[..., dict[str, Any]]
) -> None:
    """A later allow rule releasing more fields changes nothing: the first applicable decides."""
    policy = _append_rule(
        policy_copy,
        """  - id: risk-school-more-test
    sender: police
    notice_type: risk
    recipient: school
    legal_basis: prl-27-2-1
    purpose: {nb: prøve, en: test}
    fields: {child.national_id: keep, guardians: keep}
""",
    )
    v = _verdict(policy, notice("threat"), "school")
    assert v.rule.id == "risk-school-staff-threat"
    assert "child.national_id" in v.redacted.withheld
    assert "guardians" not in v.redacted.copy


def test_failing_deny_condition_denies(
    policy_copy: Path, notice: Callable[..., dict[str, Any]]
) -> None:
    """A deny rule whose condition cannot be evaluated fails closed."""
    policy = _append_rule(
        policy_copy,
        """  - id: risk-school-broken-deny
    effect: deny
    sender: police
    notice_type: risk
    recipient: school
    legal_basis: prl-23
    purpose: {nb: prøve, en: test}
    condition: notice.no_such_field == 1
""",
    )
    v = _verdict(policy, notice("threat"), "school")
    assert v.outcome is Outcome.deny
    assert v.reasons[0].startswith("condition-error: rule risk-school-broken-deny")


def test_deny_rule_may_not_release_fields(policy_copy: Path) -> None:
    """A deny rule with fields is refused when loading: it could be misread as an allow."""
    with pytest.raises(Exception, match="a deny rule releases nothing"):
        _append_rule(
            policy_copy,
            """  - id: bad-deny
    effect: deny
    sender: police
    notice_type: risk
    recipient: school
    legal_basis: prl-23
    purpose: {nb: prøve, en: test}
    fields: {child.name: keep}
""",
        )


# --- urgent ----------------------------------------------------------------------------------


def test_urgent_notice_uses_urgent_rule_first_and_requires_review(
    policy: PolicySet, notice: Callable[..., dict[str, Any]]
) -> None:
    """Flagged as danger to life: the urgent rule decides before the ordinary one, for review."""
    v = _verdict(policy, notice("threat", danger_to_life_or_health=True), "school")
    assert v.rule.id == "risk-school-urgent-danger"
    assert v.legal_basis.id == "prl-28"
    assert v.review_required is True
    ordinary = _verdict(policy, notice("threat"), "school")
    assert ordinary.rule.id == "risk-school-staff-threat"
    assert ordinary.review_required is False


def test_urgent_rules_are_not_tried_for_ordinary_notices(
    policy: PolicySet, notice: Callable[..., dict[str, Any]]
) -> None:
    """Without the flag an urgent-only recipient is denied, and the reason says why."""
    report_doc = _load_json(POLICIES / "tests" / "notices" / "concern-report.json")
    v = _verdict(policy, report_doc, "police")
    assert v.outcome is Outcome.deny
    assert "only urgent rules" in v.reasons[0]
    report_doc["danger_to_life_or_health"] = True
    assert _verdict(policy, report_doc, "police").review_required is True


def _load_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


# --- every direction -------------------------------------------------------------------------


def test_feedback_to_police_holds_status_and_no_case_content(policy: PolicySet) -> None:
    """Child welfare's feedback: status and reference; case notes and the name withheld; the
    national id masked to its last two digits."""
    doc = _load_json(POLICIES / "tests" / "notices" / "concern-feedback.json")
    v = _verdict(policy, doc, "police")
    assert v.legal_basis.id == "bvl-feedback"
    copy = v.redacted.copy
    assert copy["status"] == "investigating"
    assert "case_notes" not in copy
    assert copy["child"] == {"national_id": "*********" + doc["child"]["national_id"][-2:]}


# --- condition views -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("child_age < 18", []),
        ("notice.risk.level == 'high'", ["risk.level"]),
        ("has(notice.child.school)", ["child.school?"]),
        ("notice.guardians.exists(g, g.relation == 'mother')", ["guardians"]),
        ("size(notice) > 3", None),
        ("notice['risk'].level == 'high'", None),
    ],
)
def test_condition_view_names_what_is_read(condition: str, expected: list[str] | None) -> None:
    """The view holds the chains a condition names; any other use of notice means all of it."""
    view = references(condition)
    assert (view.paths() if view is not None else None) == expected


def test_projection_gives_the_same_decisions_as_the_whole_notice(policy: PolicySet) -> None:
    """Conditions evaluated on the projection agree with conditions on the full notice."""
    for doc in generate(300, seed=7):
        facts = Facts(policy, doc["notice_type"], doc, 14)
        view = policy.views.get(doc["notice_type"])
        assert view is not None
        full = Facts.__new__(Facts)
        Facts.__init__(full, policy, "no-such-type", doc, 14)  # no view: the whole notice
        for rule in policy.rules:
            if rule.notice_type == doc["notice_type"]:
                assert facts.condition(rule, policy) == full.condition(rule, policy), rule.id
        assert set(project(doc, view)) <= set(doc)


# --- shipped policy tests, lint, report ------------------------------------------------------


def test_shipped_policy_test_cases_pass(policy: PolicySet) -> None:
    """Every case in policies/tests passes."""
    result = run(policy, CaseFolder(POLICIES / "tests"))
    failing = [(r.name, r.problems) for r in result.results if r.status.value != "PASS"]
    assert failing == []
    assert len(result.results) >= len(policy.rules)


def test_every_shipped_rule_has_a_deciding_test_case(policy: PolicySet) -> None:
    """Each rule in policies/ decides at least one passing test case."""
    covered = run(policy, CaseFolder(POLICIES / "tests")).covered()
    assert {r.id for r in policy.rules} - covered == set()


def test_a_wrong_expectation_fails(policy_copy: Path, policy: PolicySet) -> None:
    """A case whose expectation is wrong is reported as FAIL with the difference."""
    cases = policy_copy / "tests" / "police.yaml"
    text = cases.read_text(encoding="utf-8")
    cases.write_text(
        text.replace("rule: risk-school-prevent\n", "rule: risk-school-urgent\n", 1),
        encoding="utf-8",
    )
    result = run(load_policy(policy_copy), CaseFolder(policy_copy / "tests"))
    failed = [r for r in result.results if r.status.value == "FAIL"]
    assert len(failed) == 1
    assert "rule: expected risk-school-urgent, got risk-school-prevent" in failed[0].problems


def test_policy_version_ignores_test_cases(policy_copy: Path, policy: PolicySet) -> None:
    """Editing a test case does not change the policy version stamped on decisions."""
    (policy_copy / "tests" / "extra.yaml").write_text("cases: []\n", encoding="utf-8")
    assert load_policy(policy_copy).version == policy.version


def test_lint_finds_unreachable_uncited_and_unconfirmed(policy_copy: Path) -> None:
    """An allow rule after an unconditional one is unreachable; uncited and unconfirmed bases
    are named."""
    bases = policy_copy / "legal-bases.yaml"
    text = bases.read_text(encoding="utf-8")
    at = text.index("  - id: bvl-feedback")
    at = text.index("    status: confirmed", at)
    bases.write_text(
        text[:at] + "    status: inferred" + text[at + len("    status: confirmed") :],
        encoding="utf-8",
    )
    policy = _append_rule(
        policy_copy,
        """  - id: feedback-shadowed
    sender: child-welfare
    notice_type: concern-feedback
    recipient: police
    legal_basis: bvl-feedback
    purpose: {nb: prøve, en: test}
    fields: {status: keep}
""",
    )
    findings = {(f.subject, f.code) for f in lint(policy, samples=300)}
    assert ("feedback-shadowed", "unreachable") in findings
    assert ("feedback-shadowed", "never-applies") not in findings
    assert ("bvl-15-8", "basis-uncited") in findings
    assert ("concern-feedback-police", "basis-not-confirmed") in findings
    assert ("concern-feedback-police", "unreachable") not in findings


def test_report_names_recipients_laws_and_operators(policy: PolicySet) -> None:
    """The lawyers' report lists each recipient, the statute per rule and the operators."""
    md = markdown(policy, EN)
    for recipient in policy.recipients.values():
        assert f"({recipient.id})" in md
    assert "Politiregisterloven § 27 first paragraph (LOV-2010-05-28-16)" in md
    assert "| notice_id | as a pseudonym under the recipient's own key |" in md
    assert "youth-club" in md
    assert "risk-youth-club-prevent" in md  # the youth club is a public body (item 2.7)
    page = html_report(policy, EN)
    assert page.startswith("<!doctype html>")
    assert "<table>" in page
    assert "&lt;" not in md


# --- simulation ------------------------------------------------------------------------------


def test_simulation_reports_more_and_less(policy_copy: Path, policy: PolicySet) -> None:
    """A proposal giving the school birth years and SaLTo no notice id shows as more and less."""
    rules = policy_copy / "rules.yaml"
    text = rules.read_text(encoding="utf-8")
    text = text.replace(
        "      child.name: keep\n      child.school: keep\n      risk.level: keep\n",
        "      child.name: keep\n      child.birth_date: generalise:birth-year\n"
        "      child.school: keep\n      risk.level: keep\n",
        1,
    )
    text = text.replace("      notice_id: pseudonymise\n", "      notice_id: drop\n", 1)
    rules.write_text(text, encoding="utf-8")
    proposed = load_policy(policy_copy)
    sim = Simulator(policy, proposed)
    sim.add_all(generate(2000, seed=3))
    result = report(sim.tally, policy, proposed)
    changes = {(c.recipient, c.field): c for c in result.changes}
    assert set(changes) == {("school", "child.birth_date"), ("salto", "notice_id")}
    assert changes[("school", "child.birth_date")].more > 0
    assert changes[("school", "child.birth_date")].less == 0
    assert changes[("salto", "notice_id")].less > 0
    assert result.notices == 2000


def test_simulation_agrees_with_decide(policy: PolicySet) -> None:
    """The simulation's cached decisions match deciding every notice one by one."""
    docs = list(generate(500, seed=11))
    sim = Simulator(policy, policy)
    sim.add_all(docs)
    result = report(sim.tally, policy, policy)
    expected = dict.fromkeys(policy.recipients, 0)
    for doc in docs:
        for recipient in policy.recipients:
            if _verdict(policy, doc, recipient).outcome is Outcome.deliver:
                expected[recipient] += 1
    assert {r: c for r, (c, _) in result.deliveries.items()} == expected
    assert result.changes == []
