"""Invariants proved over the rules (policies/invariants.yaml): they hold on the shipped set, and
a deliberately wrong copy fails naming the invariant, the rule and the field, in `policy check`
(exit 2), in the deployment gate and at the worker's start."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import pytest

from broker.adapters.policy_files import load_policy, require
from broker.core.errors import PolicyError
from broker.core.policy.invariants import Violation, check
from broker.core.policy.load import policy_version
from broker.core.policy.model import PolicySet
from tests.conftest import ROOT, run_broker

POLICIES = ROOT / "policies"


@pytest.fixture
def policy_copy(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target)
    return target


def _edit_rule(directory: Path, rule_id: str, old: str, new: str) -> None:
    """Replace ``old`` with ``new`` within one rule's entry of rules.yaml."""
    path = directory / "rules.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index(f"  - id: {rule_id}\n")
    end = text.find("\n  - id: ", start + 1)
    end = len(text) if end < 0 else end
    entry = text[start:end]
    assert old in entry, (rule_id, old)
    path.write_text(text[:start] + entry.replace(old, new, 1) + text[end:], encoding="utf-8")


def _found(directory: Path) -> set[tuple[str, str, str]]:
    return {(v.invariant, v.rule, v.field) for v in check(load_policy(directory))}


KEEP_CHILD = (
    "child.birth_date: generalise:age-band",
    "child: keep\n      child.birth_date: generalise:age-band",
)


# --- the shipped policies ------------------------------------------------------------------


def test_every_shipped_invariant_holds(policy: PolicySet) -> None:
    assert check(policy) == []
    assert {inv.id: inv.check.kind for inv in policy.invariants} == {
        "salto-no-direct-identifier": "never-receives",
        "salto-copies-cannot-be-joined": "never-receives",
        "intelligence-stays-with-the-police": "never-leaves",
        "co-involved-stay-with-the-police": "never-leaves",
        "case-notes-stay-with-child-welfare": "never-leaves",
        "no-disclosure-under-a-duty-of-confidentiality": "basis-permits-disclosure",
    }


def test_policy_check_says_the_invariants_hold() -> None:
    result = run_broker("policy", "check", "--no-lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "invariants hold: 6" in result.stdout


# --- never-receives ------------------------------------------------------------------------


def test_a_kept_object_releases_every_identifier_beneath_it(policy_copy: Path) -> None:
    """`child: keep` for SaLTo releases the national id, name and address; the birth date,
    under its own more specific age band, is tolerated (generalise)."""
    _edit_rule(policy_copy, "risk-salto-anonymised", *KEEP_CHILD)
    assert _found(policy_copy) == {
        ("salto-no-direct-identifier", "risk-salto-anonymised", "child.national_id"),
        ("salto-no-direct-identifier", "risk-salto-anonymised", "child.name"),
        ("salto-no-direct-identifier", "risk-salto-anonymised", "child.address"),
    }


def test_a_kept_list_releases_every_element_path(policy_copy: Path) -> None:
    """`guardians: keep` covers guardians[].name, phone, address and relation."""
    _edit_rule(
        policy_copy,
        "incident-salto-anonymised",
        "      child.district: keep",
        ("      child.district: keep\n      guardians: keep"),
    )
    assert _found(policy_copy) == {
        ("salto-no-direct-identifier", "incident-salto-anonymised", f"guardians[].{leaf}")
        for leaf in ("name", "relation", "phone", "address")
    }


def test_an_operator_counts_unless_the_invariant_tolerates_it(policy_copy: Path) -> None:
    """A pseudonym of the notice id is tolerated; the id in clear, or a birth date
    pseudonymised rather than banded, is not."""
    _edit_rule(policy_copy, "risk-salto-anonymised", "notice_id: pseudonymise", "notice_id: keep")
    _edit_rule(
        policy_copy,
        "incident-salto-anonymised",
        "birth_date: generalise:age-band",
        "birth_date: pseudonymise",
    )
    found = check(load_policy(policy_copy))
    assert [str(v) for v in found] == [
        "invariant salto-no-direct-identifier: rule incident-salto-anonymised: "
        "'child.birth_date': released to salto (pseudonymise)",
        "invariant salto-copies-cannot-be-joined: rule risk-salto-anonymised: "
        "'notice_id': released to salto (keep)",
    ]


def test_the_consent_exception_is_the_basis_requiring_consent(policy_copy: Path) -> None:
    """risk-salto-consent names the child under prl-24-1 (requires consent); the same rule
    under prl-24-2, which does not, breaks the invariant."""
    _edit_rule(policy_copy, "risk-salto-consent", "legal_basis: prl-24-1", "legal_basis: prl-24-2")
    assert _found(policy_copy) == {
        ("salto-no-direct-identifier", "risk-salto-consent", "child.name"),
        ("salto-copies-cannot-be-joined", "risk-salto-consent", "notice_id"),
    }


# --- never-leaves ----------------------------------------------------------------------------


def test_intelligence_released_by_a_shared_field_set_names_every_rule(policy_copy: Path) -> None:
    """The child-welfare field set is shared by five rules (a YAML anchor): each is named."""
    _edit_rule(
        policy_copy,
        "incident-child-welfare-duty",
        "      risk: keep",
        ("      risk: keep\n      intelligence: keep"),
    )
    found = _found(policy_copy)
    rules = {rule for _, rule, _ in found}
    assert rules == {
        "incident-child-welfare-duty",
        "incident-child-welfare-recipient-task",
        "incident-barnevernvakta-acute",
        "incident-barnevernvakta-urgent",
    }
    assert {field for _, _, field in found} == {"intelligence.sources", "intelligence.unverified"}
    assert {inv for inv, _, _ in found} == {"intelligence-stays-with-the-police"}


def test_even_a_pseudonym_of_the_co_involved_leaves(policy_copy: Path) -> None:
    """Nothing tolerated: a pseudonymised name of a co-suspect still counts."""
    _edit_rule(
        policy_copy,
        "incident-school-urgent",
        "      incident.category: keep",
        ("      incident.category: keep\n      incident.co_involved[].name: pseudonymise"),
    )
    assert _found(policy_copy) == {
        (
            "co-involved-stay-with-the-police",
            "incident-school-urgent",
            "incident.co_involved[].name",
        )
    }


# --- basis-permits-disclosure ----------------------------------------------------------------


def test_an_allow_rule_under_prl_23_is_named_per_field(policy: PolicySet) -> None:
    """Loading refuses such a rule first (test_gate); the checker states it too, so built
    without the loader the invariant still names the rule and each field."""
    rule = next(r for r in policy.rules if r.id == "concern-feedback-police")
    wrong = rule.model_copy(update={"legal_basis": "prl-23"})
    rules = tuple(wrong if r is rule else r for r in policy.rules)
    found = check(dataclasses.replace(policy, rules=rules))
    assert {v.invariant for v in found} == {"no-disclosure-under-a-duty-of-confidentiality"}
    assert {v.rule for v in found} == {"concern-feedback-police"}
    assert {v.field for v in found} == set(rule.fields)
    assert "under prl-23 (Politiregisterloven § 23), which does not permit" in found[0].reason


# --- loading -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (
            "fields: [intelligence]",
            "fields: [inteligence]",
            "intelligence-stays-with-the-police: check.fields: 'inteligence' is not a field of "
            "any notice type",
        ),
        (
            "recipient: salto\n      fields: [notice_id]",
            "recipient: salt\n      fields: [notice_id]",
            "salto-copies-cannot-be-joined: check.recipient: unknown recipient 'salt'",
        ),
        ("kind: never-leaves\n      fields: [case_notes]", "kind: never-ever", "case-notes-"),
        ("tolerates: [pseudonymise]", "tolerates: [keep]", "salto-copies-cannot-be-joined: "),
    ],
)
def test_a_wrong_invariant_is_refused_when_loading(
    policy_copy: Path, old: str, new: str, problem: str
) -> None:
    """A typo in a field or recipient would hold vacuously: loading names it instead."""
    path = policy_copy / "invariants.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(PolicyError) as exc:
        load_policy(policy_copy)
    assert exc.value.file.endswith("invariants.yaml")
    assert any(p.startswith(problem) for p in exc.value.problems), exc.value.problems


def test_invariants_count_toward_the_version(policy_copy: Path, policy: PolicySet) -> None:
    path = policy_copy / "invariants.yaml"
    path.write_bytes(path.read_bytes() + b"\n# a note\n")
    assert load_policy(policy_copy).version != policy.version
    assert policy_version({"invariants.yaml": b"x"}) != policy_version({"invariants.yaml": b"y"})


# --- `policy check`, the gate and the worker ------------------------------------------------


def test_policy_check_exits_2_naming_invariant_rule_and_field(policy_copy: Path) -> None:
    _edit_rule(policy_copy, "risk-salto-anonymised", *KEEP_CHILD)
    for args in (("--no-lint",), ("--samples", "200"), ("--strict", "--samples", "200")):
        result = run_broker("policy", "check", "--policies", str(policy_copy), *args)
        assert result.returncode == 2, (args, result.stdout + result.stderr)
        stderr = " ".join(result.stderr.split())
        assert (
            "invariant salto-no-direct-identifier: rule risk-salto-anonymised: "
            "'child.national_id': released to salto (keep)" in stderr
        )
        assert "invariants fail: 3 violation(s)" in stderr


def test_the_gate_is_closed_by_a_failing_invariant(policy_copy: Path) -> None:
    _edit_rule(policy_copy, "risk-salto-anonymised", *KEEP_CHILD)
    with pytest.raises(PolicyError) as exc:
        require(policy_copy, samples=200)
    assert (
        "risk-salto-anonymised: invariant salto-no-direct-identifier: 'child.name' released "
        "to salto (keep) (policy check)" in exc.value.problems
    )


def test_the_worker_refuses_to_start_when_an_invariant_fails(policy_copy: Path) -> None:
    """Before it connects (the port is closed): it returns only because it refused."""
    _edit_rule(policy_copy, "risk-salto-anonymised", *KEEP_CHILD)
    result: subprocess.CompletedProcess[str] = run_broker(
        "worker", env={"BROKER_POLICY_DIR": str(policy_copy), "BROKER_BOOTSTRAP": "127.0.0.1:1"}
    )
    stderr = " ".join(result.stderr.split())
    assert result.returncode != 0
    assert "policy invalid, worker not started" in stderr
    assert "invariant salto-no-direct-identifier" in stderr
    assert "risk-salto-anonymised" in stderr
    assert "'child.national_id'" in stderr
    assert "Traceback" not in stderr


def test_a_violation_reads_as_one_line() -> None:
    v = Violation("inv", "rule-a", "child.name", "released to salto (keep)")
    assert str(v) == "invariant inv: rule rule-a: 'child.name': released to salto (keep)"
