"""What a notice must carry before a rule may release anything, and whom notices may be about:
the controller's decision (prl § 27 fifth paragraph, prl § 30 with prf §§ 11-2 to 11-4), the
subject who is not a child, and the settings beside the rules that say so."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from broker.adapters.policy_files import load_policy
from broker.core import national_id
from broker.core.errors import PolicyError
from broker.core.notice_parts import ContactPerson
from broker.core.notices import RiskNotice
from broker.core.policy import PolicySet
from broker.core.records import Outcome
from broker.testing.policies import verdict
from tests.conftest import ROOT


def _aged(doc: dict[str, Any], years: int) -> dict[str, Any]:
    """The same notice about someone who turned ``years`` earlier in the year it was issued
    (a synthetic national id to match)."""
    born = date(int(doc["issued_at"][:4]) - years, 1, 2)
    number = next(n for s in range(500, 600) if (n := national_id.synthetic(born, s)))
    if "birth_date" in doc["child"]:
        doc["child"]["birth_date"] = born.isoformat()
    doc["child"]["national_id"] = number
    return doc


# --- the controller's decision ----------------------------------------------------------------


def test_the_decision_is_carried_by_a_delivery_under_a_discretionary_basis(
    policy: PolicySet, notice: Callable[..., dict[str, Any]]
) -> None:
    doc = notice("threat")
    v = verdict(policy, doc, "school")
    assert v.outcome is Outcome.deliver
    assert v.controller_decision is not None
    assert v.controller_decision.reference == doc["controller_decision"]["reference"]
    assert v.controller_decision.decided_by == doc["controller_decision"]["decided_by"]


def test_a_duty_carries_no_decision(
    policy: PolicySet, notice: Callable[..., dict[str, Any]]
) -> None:
    """prf § 10-2 is a duty: the delivery names no decision even if the notice has one."""
    v = verdict(policy, notice("recruited"), "child-welfare")
    assert v.legal_basis is not None
    assert v.legal_basis.id == "prf-10-2"
    assert v.controller_decision is None


def test_a_missing_decision_has_its_own_reason(
    policy: PolicySet, notice: Callable[..., dict[str, Any]]
) -> None:
    v = verdict(policy, notice("threat", controller_decision=None), "child-welfare")
    assert v.outcome is Outcome.deny
    assert v.reasons == (
        "controller-decision-missing: rule risk-child-welfare-recipient-task under prl-30 "
        "requires the controller's written decision",
    )


def test_a_decision_after_the_notice_does_not_count(
    policy: PolicySet, notice: Callable[..., dict[str, Any]]
) -> None:
    doc = notice("threat")
    issued = doc["issued_at"]
    doc["controller_decision"]["decided_at"] = issued[:11] + "23:59:00" + issued[19:]
    v = verdict(policy, doc, "child-welfare")
    assert v.outcome is Outcome.deny
    assert v.reasons == (
        "controller-decision-missing: rule risk-child-welfare-recipient-task under prl-30: "
        "the controller's decision is dated after the notice was issued",
    )


def test_a_decision_at_the_moment_of_issue_counts(
    policy: PolicySet, notice: Callable[..., dict[str, Any]]
) -> None:
    doc = notice("threat")
    doc["controller_decision"]["decided_at"] = doc["issued_at"]
    assert verdict(policy, doc, "child-welfare").outcome is Outcome.deliver


def test_a_decision_needs_an_aware_time(notice: Callable[..., dict[str, Any]]) -> None:
    doc = notice("threat")
    doc["controller_decision"]["decided_at"] = "2026-11-25T12:00:00"
    with pytest.raises(ValidationError, match="decided_at must carry a time zone"):
        RiskNotice.model_validate(doc)


# --- a subject who is not a child --------------------------------------------------------------


@pytest.mark.parametrize("recipient", ["school", "child-welfare", "salto", "youth-club", "police"])
def test_an_adult_is_refused_for_every_recipient_before_any_requirement(
    policy: PolicySet, notice: Callable[..., dict[str, Any]], recipient: str
) -> None:
    """Not a necessity, consent or decision reason: not-a-child alone, and no rule applies."""
    doc = _aged(notice("threat", necessity=None, controller_decision=None), 19)
    v = verdict(policy, doc, recipient)
    assert v.outcome is Outcome.deny
    assert v.rule is None
    assert v.reasons == (
        "not-a-child: the subject was 18 or older on the day the notice was issued; "
        "no rule is tried",
    )
    assert all(why == "not tried: not-a-child" for _, why in v.steps)


def test_seventeen_is_a_child(policy: PolicySet, notice: Callable[..., dict[str, Any]]) -> None:
    assert verdict(policy, _aged(notice("threat"), 17), "child-welfare").outcome is Outcome.deliver


# --- the settings beside the rules -----------------------------------------------------------


@pytest.fixture
def policy_copy(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", target)
    return target


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_shipped_settings(policy: PolicySet) -> None:
    assert policy.subjects.adults_decided_for == ["concern-feedback"]
    assert policy.imposed_confidentiality is not None
    assert policy.imposed_confidentiality.legal_basis == "prl-35-2"
    municipal = {r.id for r in policy.recipients.values() if r.municipal}
    assert municipal == set(policy.recipients) - {"police"}


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (
            "adults_decided_for: [concern-feedback]",
            "adults_decided_for: [concern-feedbak]",
            "subjects: adults_decided_for: unknown notice type 'concern-feedbak'",
        ),
        (
            "  legal_basis: prl-35-2\n",
            "  legal_basis: prl-35-9\n",
            "imposed_confidentiality: legal_basis: unknown legal basis 'prl-35-9'",
        ),
        ("  legal_basis: prl-35-2\n", "  basis: prl-35-2\n", "legal_basis: Field required"),
    ],
)
def test_a_bad_setting_is_named(policy_copy: Path, old: str, new: str, problem: str) -> None:
    _edit(policy_copy / "rules.yaml", old, new)
    with pytest.raises(PolicyError) as exc:
        load_policy(policy_copy)
    assert exc.value.file.endswith("rules.yaml")
    assert any(p.startswith(problem) for p in exc.value.problems), exc.value.problems


def test_without_the_exemption_feedback_on_an_adult_is_refused(policy_copy: Path) -> None:
    """The exemption is data: remove it and child welfare's feedback on an adult is denied."""
    doc = json.loads((policy_copy / "tests/notices/concern-feedback.json").read_text("utf-8"))
    doc = _aged(doc, 19)
    shipped = load_policy(policy_copy)
    assert verdict(shipped, doc, "police").outcome is Outcome.deliver
    _edit(policy_copy / "rules.yaml", "adults_decided_for: [concern-feedback]", "{}")
    v = verdict(load_policy(policy_copy), doc, "police")
    assert v.outcome is Outcome.deny
    assert v.reasons[0].startswith("not-a-child")


# --- a contact -----------------------------------------------------------------------------------


def test_a_contact_may_have_no_phone() -> None:
    assert ContactPerson(name="Lise Moe", role="etterforsker").phone is None
    with_mail = ContactPerson(name="Lise Moe", role="etterforsker", email="lise@politiet.example")
    assert with_mail.email == "lise@politiet.example"
    with pytest.raises(ValidationError, match="email"):
        ContactPerson(name="Lise Moe", role="etterforsker", email="not an address")
