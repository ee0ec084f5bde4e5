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
from broker.core.policy.model import PolicySet, Requirement
from broker.testing.policies import edit_rule
from tests.conftest import ROOT, run_broker

POLICIES = ROOT / "policies"


@pytest.fixture
def policy_copy(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target)
    return target


COVERS = "no-field-beyond-what-the-basis-covers"


def _found(directory: Path) -> set[tuple[str, str, str]]:
    """The violations, leaving out the covers invariant (under prl-24-2 every field breaks
    it: tested on its own below)."""
    found = {(v.invariant, v.rule, v.field) for v in check(load_policy(directory))}
    return {f for f in found if f[0] != COVERS}


KEEP_CHILD = ("      child.name: keep\n", "      child: keep\n")
SALTO_RULES = ("risk-salto-cooperation", "incident-salto-cooperation")  # one field set


# --- the shipped policies ------------------------------------------------------------------


def test_every_shipped_invariant_holds(policy: PolicySet) -> None:
    assert check(policy) == []
    assert {inv.id: inv.check.kind for inv in policy.invariants} == {
        "salto-never-identity-numbers": "never-receives",
        "salto-name-only-with-consent-or-decision": "never-receives",
        "salto-copies-cannot-be-joined": "never-receives",
        "intelligence-stays-with-the-police": "never-leaves",
        "co-involved-stay-with-the-police": "never-leaves",
        "case-notes-stay-with-child-welfare": "never-leaves",
        "no-disclosure-under-a-duty-of-confidentiality": "basis-permits-disclosure",
        "discretionary-disclosure-needs-a-decision": "discretionary-requires-decision",
        COVERS: "basis-covers-fields",
    }


def test_policy_check_says_the_invariants_hold() -> None:
    result = run_broker("policy", "check", "--no-lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "invariants hold: 9" in result.stdout


# --- never-receives ------------------------------------------------------------------------


def test_a_kept_object_releases_every_identifier_beneath_it(policy_copy: Path) -> None:
    """`child: keep` for SaLTo releases the national id, birth date and address, under any
    basis; the name is the stated exception under a basis requiring the controller's
    decision (prl-27-4)."""
    edit_rule(policy_copy, "risk-salto-cooperation", *KEEP_CHILD)
    assert _found(policy_copy) == {
        ("salto-never-identity-numbers", rule, field)
        for rule in SALTO_RULES
        for field in ("child.national_id", "child.birth_date", "child.address")
    }


def test_a_kept_list_releases_every_element_path(policy_copy: Path) -> None:
    """`guardians: keep` covers guardians[].name, phone, address and relation."""
    edit_rule(
        policy_copy,
        "incident-salto-cooperation",
        "      incident.category: keep",
        ("      incident.category: keep\n      guardians: keep"),
    )
    assert _found(policy_copy) == {
        ("salto-never-identity-numbers", "incident-salto-cooperation", f"guardians[].{leaf}")
        for leaf in ("name", "relation", "phone", "address")
    }


def test_an_operator_counts_unless_the_invariant_tolerates_it(policy_copy: Path) -> None:
    """A pseudonym of the notice id and an age band are tolerated; the id in clear, or a
    birth date pseudonymised rather than banded, is not."""
    edit_rule(
        policy_copy,
        "risk-salto-cooperation",
        "notice_id: pseudonymise",
        "notice_id: keep\n      child.birth_date: generalise:age-band",
    )
    edit_rule(
        policy_copy,
        "incident-salto-cooperation",
        "      incident.category: keep",
        "      incident.category: keep\n      child.birth_date: pseudonymise",
    )
    found = check(load_policy(policy_copy))
    assert [str(v) for v in found] == [
        "invariant salto-never-identity-numbers: rule incident-salto-cooperation: "
        "'child.birth_date': released to salto (pseudonymise)",
        "invariant salto-copies-cannot-be-joined: rule risk-salto-cooperation: "
        "'notice_id': released to salto (keep)",
        "invariant salto-copies-cannot-be-joined: rule incident-salto-cooperation: "
        "'notice_id': released to salto (keep)",
    ]


def test_the_consent_exception_is_the_basis_requiring_consent(policy_copy: Path) -> None:
    """risk-salto-consent names the child under prl-24-1 (requires consent); the same rule
    under prl-24-2, which does not, breaks the invariants."""
    edit_rule(policy_copy, "risk-salto-consent", "legal_basis: prl-24-1", "legal_basis: prl-24-2")
    assert _found(policy_copy) == {
        ("salto-name-only-with-consent-or-decision", "risk-salto-consent", "child.name"),
        ("salto-copies-cannot-be-joined", "risk-salto-consent", "notice_id"),
    }


def test_salto_per_child_under_prl_24_2_fails_naming_the_rule(policy_copy: Path) -> None:
    """The old mistake (shared/legal-bases.md point 1): a per-child copy to SaLTo under
    prl § 24 nr. 2 names the child without consent or a controller decision."""
    edit_rule(
        policy_copy, "risk-salto-cooperation", "legal_basis: prl-27-4", "legal_basis: prl-24-2"
    )
    assert _found(policy_copy) == {
        ("salto-name-only-with-consent-or-decision", "risk-salto-cooperation", "child.name")
    }
    result = run_broker("policy", "check", "--no-lint", "--policies", str(policy_copy))
    assert result.returncode == 2
    assert "rule risk-salto-cooperation: 'child.name'" in " ".join(result.stderr.split())


# --- never-leaves ----------------------------------------------------------------------------


def test_intelligence_released_by_a_shared_field_set_names_every_rule(policy_copy: Path) -> None:
    """The child-welfare field set is shared by four rules (a YAML anchor): each is named."""
    edit_rule(
        policy_copy,
        "incident-child-welfare-investigation",
        "      risk: keep",
        ("      risk: keep\n      intelligence: keep"),
    )
    found = _found(policy_copy)
    rules = {rule for _, rule, _ in found}
    assert rules == {
        "incident-child-welfare-investigation",
        "incident-child-welfare-recipient-task",
        "incident-barnevernvakta-acute",
        "incident-barnevernvakta-urgent",
    }
    assert {field for _, _, field in found} == {"intelligence.sources", "intelligence.unverified"}
    assert {inv for inv, _, _ in found} == {"intelligence-stays-with-the-police"}


def test_even_a_pseudonym_of_the_co_involved_leaves(policy_copy: Path) -> None:
    """Nothing tolerated: a pseudonymised name of a co-suspect still counts."""
    edit_rule(
        policy_copy,
        "incident-school-urgent-offence",
        "      incident.category: keep",
        ("      incident.category: keep\n      incident.co_involved[].name: pseudonymise"),
    )
    assert _found(policy_copy) == {
        (
            "co-involved-stay-with-the-police",
            "incident-school-urgent-offence",
            "incident.co_involved[].name",
        )
    }


def test_others_involved_in_a_risk_stay_with_the_police(policy_copy: Path) -> None:
    """risk.co_involved is held like incident.co_involved: `risk: keep` without its drop
    releases it, in every rule sharing the field set."""
    edit_rule(
        policy_copy, "risk-child-welfare-recipient-task", "risk.co_involved: drop", "purpose: keep"
    )
    assert _found(policy_copy) == {
        ("co-involved-stay-with-the-police", rule, f"risk.co_involved[].{leaf}")
        for rule in ("risk-child-welfare-recipient-task", "risk-barnevernvakta-acute")
        for leaf in ("name", "role", "age")
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


# --- discretionary-requires-decision ---------------------------------------------------------


def test_a_discretionary_basis_without_the_decision_is_named_per_rule(policy: PolicySet) -> None:
    """Built without the loader (which refuses it first), prl-30 requiring only necessity
    breaks the invariant for every rule citing it, each named with the basis."""
    basis = policy.legal_bases["prl-30"]
    wrong = basis.model_copy(update={"requires": [Requirement.necessity]})
    found = check(dataclasses.replace(policy, legal_bases={**policy.legal_bases, "prl-30": wrong}))
    assert {v.invariant for v in found} == {"discretionary-disclosure-needs-a-decision"}
    assert {v.rule for v in found} == {r.id for r in policy.rules if r.legal_basis == "prl-30"}
    assert "cites prl-30 (Politiregisterloven § 30), discretionary" in found[0].reason


def test_loading_refuses_a_discretionary_basis_without_the_decision(policy_copy: Path) -> None:
    """The old mistake (shared/legal-bases.md point 5): `requires: [necessity]` alone. Loading
    names the basis and the rules citing it; `policy check` and the worker stop on it."""
    path = policy_copy / "legal-bases.yaml"
    text = path.read_text(encoding="utf-8")
    at = text.index("  - id: prl-27-4")
    old = "    requires: [necessity, controller-decision]\n"
    path.write_text(
        text[:at] + text[at:].replace(old, "    requires: [necessity]\n", 1), encoding="utf-8"
    )
    with pytest.raises(PolicyError) as exc:
        load_policy(policy_copy)
    assert exc.value.file.endswith("legal-bases.yaml")
    assert exc.value.problems == [
        "prl-27-4: requires: a discretionary basis must require controller-decision (rules "
        "citing it: risk-salto-cooperation, incident-salto-cooperation)"
    ]
    result = run_broker("policy", "check", "--policies", str(policy_copy))
    assert result.returncode != 0
    assert "incident-salto-cooperation" in " ".join(result.stderr.split())


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
    edit_rule(policy_copy, "risk-salto-cooperation", *KEEP_CHILD)
    for args in (("--no-lint",), ("--samples", "200"), ("--strict", "--samples", "200")):
        result = run_broker("policy", "check", "--policies", str(policy_copy), *args)
        assert result.returncode == 2, (args, result.stdout + result.stderr)
        stderr = " ".join(result.stderr.split())
        assert (
            "invariant salto-never-identity-numbers: rule risk-salto-cooperation: "
            "'child.national_id': released to salto (keep)" in stderr
        )
        assert "invariants fail: 6 violation(s)" in stderr


def test_the_gate_is_closed_by_a_failing_invariant(policy_copy: Path) -> None:
    edit_rule(policy_copy, "risk-salto-cooperation", *KEEP_CHILD)
    with pytest.raises(PolicyError) as exc:
        require(policy_copy, samples=200)
    assert (
        "risk-salto-cooperation: invariant salto-never-identity-numbers: 'child.address' "
        "released to salto (keep) (policy check)" in exc.value.problems
    )


def test_the_worker_refuses_to_start_when_an_invariant_fails(policy_copy: Path) -> None:
    """Before it connects (the port is closed): it returns only because it refused."""
    edit_rule(policy_copy, "risk-salto-cooperation", *KEEP_CHILD)
    result: subprocess.CompletedProcess[str] = run_broker(
        "worker", env={"BROKER_POLICY_DIR": str(policy_copy), "BROKER_BOOTSTRAP": "127.0.0.1:1"}
    )
    stderr = " ".join(result.stderr.split())
    assert result.returncode != 0
    assert "policy invalid, worker not started" in stderr
    assert "invariant salto-never-identity-numbers" in stderr
    assert "risk-salto-cooperation" in stderr
    assert "'child.national_id'" in stderr
    assert "Traceback" not in stderr


def test_a_violation_reads_as_one_line() -> None:
    v = Violation("inv", "rule-a", "child.name", "released to salto (keep)")
    assert str(v) == "invariant inv: rule rule-a: 'child.name': released to salto (keep)"


def test_a_field_beyond_what_the_basis_covers_is_named(policy_copy: Path) -> None:
    """Child welfare's feedback is the status, never the case (bvl § 13-3): releasing the
    child's name under it, even masked, breaks basis-covers-fields naming rule and field."""
    edit_rule(
        policy_copy,
        "concern-feedback-police",
        "      child.national_id: mask:2",
        "      child.national_id: mask:2\n      child.name: mask:2",
    )
    found = [v for v in check(load_policy(policy_copy)) if v.invariant == COVERS]
    assert [(v.rule, v.field) for v in found] == [("concern-feedback-police", "child.name")]
    assert "covers only" in found[0].reason


def test_a_per_notice_copy_under_prl_24_2_covers_nothing(policy_copy: Path) -> None:
    """prl § 24 nr. 2 fits statistics: a copy of one notice under it fails for every field."""
    edit_rule(
        policy_copy, "risk-salto-cooperation", "legal_basis: prl-27-4", "legal_basis: prl-24-2"
    )
    found = {
        v.field
        for v in check(load_policy(policy_copy))
        if v.invariant == COVERS and v.rule == "risk-salto-cooperation"
    }
    assert {"risk.level", "child.district", "notice_type"} <= found


def test_a_covered_path_that_is_no_field_is_refused(policy_copy: Path) -> None:
    path = policy_copy / "legal-bases.yaml"
    text = path.read_text(encoding="utf-8")
    assert "covers: []" in text
    path.write_text(text.replace("covers: []", "covers: [risk.levl]", 1), encoding="utf-8")
    with pytest.raises(PolicyError) as exc:
        load_policy(policy_copy)
    assert exc.value.problems == ["prl-24-2: covers: 'risk.levl' is not a field of any notice type"]
