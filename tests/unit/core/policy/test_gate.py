"""The deployment gate: no allow rule under a basis that does not permit disclosure, no lint
warning, every policy test case passing; `policy check --strict` and the worker apply it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from broker.adapters.policy_files import gate, load_policy, require
from broker.core.errors import PolicyError
from tests.conftest import ROOT, run_broker

POLICIES = ROOT / "policies"

# The finding in issue #10: the child's identity and intelligence to the youth club, citing the
# police's duty of confidentiality itself.
YOUTH_CLUB_RULE = """
  - id: incident-youth-club-confidential
    sender: police
    notice_type: incident
    recipient: youth-club
    legal_basis: prl-23
    purpose:
      nb: La fritidsklubben holde øye med barnet.
      en: Let the youth club keep an eye on the child.
    condition: child_age < 18
    fields:
      notice_id: keep
      child: keep
      intelligence: keep
"""


_broker = run_broker


@pytest.fixture
def policy_copy(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target)
    return target


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


def _wrong_expectation(directory: Path) -> None:
    _edit(
        directory / "tests" / "police.yaml",
        "rule: risk-school-prevent\n",
        "rule: risk-school-urgent-danger\n",
    )


# --- permits_disclosure --------------------------------------------------------------------


def test_shipped_bases_say_which_permit_disclosure() -> None:
    """Duties of confidentiality and to cooperate do not permit disclosure; the exceptions do."""
    bases = load_policy(POLICIES).legal_bases
    closed = {b.id for b in bases.values() if not b.permits_disclosure}
    assert closed == {"prl-23", "prl-35-2", "fvl-13", "fvl2025-30", "bvl-15-8", "gdpr"}
    cited = {"prl-24-1", "prl-27-1", "prl-27-2-1", "prl-27-4", "prl-28", "prl-30", "prf-10-2"}
    assert cited | {"opl-24-3", "fvl-13a-1", "bvl-13-2", "strl-196"} <= set(bases)


def test_allow_rule_under_a_confidentiality_duty_fails_check(policy_copy: Path) -> None:
    """The youth-club rule citing prl-23 is refused when loading, naming the rule and basis."""
    _append(policy_copy / "rules.yaml", YOUTH_CLUB_RULE)
    with pytest.raises(PolicyError) as exc:
        load_policy(policy_copy)
    assert exc.value.file.endswith("rules.yaml")
    assert exc.value.problems == [
        "incident-youth-club-confidential: legal_basis: 'prl-23' (Politiregisterloven "
        "(LOV-2010-05-28-16) § 23) does not permit disclosure (permits_disclosure: false): "
        "an allow rule cannot release under it"
    ]
    result = _broker("policy", "check", "--policies", str(policy_copy))
    assert result.returncode == 1
    assert "rules.yaml" in result.stderr
    assert "incident-youth-club-confidential" in result.stderr
    assert "'prl-23'" in result.stderr


def test_deny_rule_may_cite_a_confidentiality_duty(policy_copy: Path) -> None:
    """A deny rule releases nothing, so it may cite prl-23 (the shipped witness rule does)."""
    policy = load_policy(policy_copy)
    assert policy.legal_bases["prl-23"].permits_disclosure is False
    assert any(r.legal_basis == "prl-23" for r in policy.rules)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("    permits_disclosure: true\n", "", "prl-24-1: permits_disclosure: Field required"),
        (
            "    permits_disclosure: true\n",
            "    permits_disclosure: yes please\n",
            "prl-24-1: permits_disclosure: Input should be a valid boolean",
        ),
        (
            "    permits_disclosure: true\n",
            '    permits_disclosure: "true"\n',
            "prl-24-1: permits_disclosure: Input should be a valid boolean",
        ),
    ],
)
def test_permits_disclosure_is_required_and_a_boolean(
    policy_copy: Path, old: str, new: str, message: str
) -> None:
    """Every basis must say true or false: no default, no strings."""
    _edit(policy_copy / "legal-bases.yaml", old, new)
    with pytest.raises(PolicyError) as exc:
        load_policy(policy_copy)
    assert exc.value.file.endswith("legal-bases.yaml")
    assert any(p.startswith(message) for p in exc.value.problems), exc.value.problems


# --- the gate ------------------------------------------------------------------------------


def test_shipped_policies_pass_the_gate() -> None:
    """No lint warning, every case passes: `policy check --strict` exits 0 on the shipped set."""
    assert gate(POLICIES) == []
    result = _broker("policy", "check", "--strict")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "gate open" in result.stdout


def test_gate_names_a_failing_case(policy_copy: Path) -> None:
    """A wrong expectation closes the gate, naming the case file, case and difference."""
    _wrong_expectation(policy_copy)
    problems = gate(policy_copy, samples=300)
    failed = [str(p) for p in problems if p.check == "test"]
    assert len(failed) == 1, problems
    assert failed[0].startswith("tests/police.yaml: case '")
    assert "rule: expected risk-school-urgent-danger, got risk-school-prevent" in failed[0]
    # the case was the only one deciding by that rule: it is now untested, too
    assert [(p.subject, p.reason) for p in problems if p.check != "test"] == [
        ("risk-school-prevent", "untested: no policy test case")
    ]
    with pytest.raises(PolicyError) as exc:
        require(policy_copy, samples=300)
    assert exc.value.problems == [str(p) for p in problems]
    result = _broker("policy", "check", "--strict", "--policies", str(policy_copy))
    assert result.returncode == 1
    assert "expected risk-school-urgent-danger" in result.stderr
    assert "gate closed: 2 problem(s)" in result.stderr


def test_gate_names_lint_warnings(policy_copy: Path) -> None:
    """An unconfirmed citation and a rule without a test case close the gate, by rule."""
    text = (policy_copy / "legal-bases.yaml").read_text(encoding="utf-8")
    at = text.index("    status: confirmed", text.index("  - id: bvl-feedback"))
    (policy_copy / "legal-bases.yaml").write_text(
        text[:at] + "    status: inferred" + text[at + len("    status: confirmed") :],
        encoding="utf-8",
    )
    _append(
        policy_copy / "rules.yaml",
        """
  - id: risk-salto-untested
    sender: police
    notice_type: risk
    recipient: salto
    legal_basis: prl-24-1
    purpose: {nb: prøve, en: test}
    urgent: true
    condition: child_age < 18
    fields: {notice_type: keep}
""",
    )
    problems = {(p.check, p.subject, p.reason.split(":")[0]) for p in gate(policy_copy)}
    assert ("check --strict", "concern-feedback-police", "basis-not-confirmed") in problems
    assert ("check --strict", "risk-salto-untested", "untested") in problems
    assert all(p[0] == "check --strict" for p in problems)


def test_gate_needs_test_cases(policy_copy: Path) -> None:
    """A policy set without any test case does not pass `policy test`, so not the gate."""
    shutil.rmtree(policy_copy / "tests")
    assert [str(p) for p in gate(policy_copy, samples=300)] == [
        "tests/: no policy test cases (policy test)"
    ]


# --- the worker ----------------------------------------------------------------------------


def _worker(policies: Path) -> subprocess.CompletedProcess[str]:
    """`broker worker` against a closed port: it returns only if it refuses to start."""
    result = _broker(
        "worker", env={"BROKER_POLICY_DIR": str(policies), "BROKER_BOOTSTRAP": "127.0.0.1:1"}
    )
    result.stderr = " ".join(result.stderr.split())  # as one line: the console wraps it
    return result


def test_worker_refuses_a_rule_under_a_confidentiality_duty(policy_copy: Path) -> None:
    """The youth-club rule stops the worker before it connects, naming the rule and basis."""
    _append(policy_copy / "rules.yaml", YOUTH_CLUB_RULE)
    result = _worker(policy_copy)
    assert result.returncode != 0
    assert "policy invalid, worker not started" in result.stderr
    assert "incident-youth-club-confidential" in result.stderr
    assert "does not permit disclosure" in result.stderr
    assert "Traceback" not in result.stderr


def test_worker_refuses_a_failing_policy_test_case(policy_copy: Path) -> None:
    """A policy that loads but fails its own test cases does not start the worker either."""
    _wrong_expectation(policy_copy)
    result = _worker(policy_copy)
    assert result.returncode != 0
    assert "policy invalid, worker not started" in result.stderr
    assert "tests/police.yaml: case '" in result.stderr
    assert "expected risk-school-urgent-danger" in result.stderr
    assert "Traceback" not in result.stderr
