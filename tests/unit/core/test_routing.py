"""Routing: each recipient role resolves to the one organisation the notice concerns, named in
the decision, the delivery and the audit record; a role no organisation fills for the notice is
an audited deny with its own reason, never a copy for every organisation of the role."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

from broker.adapters.policy_files import load_policy
from broker.core.directory_edit import added, retired
from broker.core.pipeline import Result, Source
from broker.core.policy import PolicySet
from broker.core.records import Decision, Outcome
from broker.testing.fakes import ReadyPipeline, ready_pipeline
from tests.conftest import POLICIES, SUBJECT_KEY

SRC = Source("t.notices", 0, 7)


def _by_role(result: Result) -> dict[str, Decision]:
    return {d.recipient: d for d in result.decisions}


def test_the_pupils_own_school_and_district_are_named(
    ready: ReadyPipeline, notice: Callable[..., dict[str, Any]]
) -> None:
    """Example 02: a threat by a pupil of osloskolen-9002 in Frogner. The school's delivery is
    for that school and child welfare's for Frogner's service, in the delivery and the audit."""
    result = ready.process(notice("threat"), None, SRC)
    decided = _by_role(result)
    assert decided["school"].outcome is Outcome.deliver
    assert decided["school"].organisation == "skole-9002"
    assert decided["child-welfare"].organisation == "bydel-frogner-barnevern"
    (school_copy,) = [m for m in result.deliveries if ready.recipient_of(m) == "school"]
    assert ready.open(school_copy)["organisation"] == "skole-9002"
    audited = {json.loads(m.value)["recipient"]: json.loads(m.value) for m in result.audit_records}
    assert audited["school"]["organisation"] == "skole-9002"
    assert audited["child-welfare"]["organisation"] == "bydel-frogner-barnevern"


def test_an_unknown_school_is_an_audited_deny_with_its_own_reason(
    ready: ReadyPipeline, notice: Callable[..., dict[str, Any]]
) -> None:
    """A school id the directory does not list: the school role is denied (unknown-school),
    nothing is sealed for any school, and the other roles are decided as before."""
    usual = _by_role(ready.process(notice("threat"), None, SRC))
    assert usual["school"].outcome is Outcome.deliver
    doc = notice("threat", child__school={"school_id": "nowhere-42", "name": "Ukjent skole"})
    result = ready.process(doc, None, SRC)
    decided = _by_role(result)
    school = decided["school"]
    assert school.outcome is Outcome.deny
    assert school.organisation is None
    assert school.reasons[-1].startswith("unknown-school: ")
    assert "nowhere-42" not in " ".join(school.reasons)
    assert school.fields_kept == []
    assert all(ready.recipient_of(m) != "school" for m in result.deliveries)
    audited = [json.loads(m.value) for m in result.audit_records]
    (record,) = [a for a in audited if a["recipient"] == "school"]
    assert (record["outcome"], record.get("delivery_id")) == ("deny", None)
    assert record["reasons"][-1].startswith("unknown-school: ")
    others = {r: d.outcome for r, d in decided.items() if r != "school"}
    assert others == {r: d.outcome for r, d in usual.items() if r != "school"}


def test_an_unknown_district_denies_its_child_welfare_copy(
    ready: ReadyPipeline, notice: Callable[..., dict[str, Any]]
) -> None:
    assert (
        _by_role(ready.process(notice("threat"), None, SRC))["child-welfare"].outcome == "deliver"
    )
    doc = notice("threat", child__district="Atlantis")
    welfare = _by_role(ready.process(doc, None, SRC))["child-welfare"]
    assert welfare.outcome is Outcome.deny
    assert welfare.reasons[-1].startswith("unknown-district: ")
    assert "Atlantis" not in " ".join(welfare.reasons)


def test_a_policy_deny_still_names_the_organisation_it_concerns(
    ready: ReadyPipeline, notice: Callable[..., dict[str, Any]]
) -> None:
    """The youth club has no legal basis: denied by the policy, the decision still says which
    organisation it concerned (auditors ask who did not receive, too)."""
    club = _by_role(ready.process(notice("recruited"), None, SRC))["youth-club"]
    assert club.outcome is Outcome.deny
    assert club.organisation == "fritidsklubb-oslo"


def test_a_retired_school_is_an_audited_deny_never_a_copy_for_its_successor(
    policy: PolicySet, now: datetime, notice: Callable[..., dict[str, Any]]
) -> None:
    """Example 02's school, skole-9002, retired with skole-9001 as its successor: the school
    role is denied (organisation-retired), audited; no school gets a copy, the successor
    neither; child welfare in Frogner still does."""
    data = (POLICIES / "directory.yaml").read_bytes()
    _, directory = retired(
        data,
        "directory.yaml",
        policy.recipients,
        "skole-9002",
        on=date(2026, 6, 30),
        reason="Nedlagt",
        successor="skole-9001",
    )
    ready = ready_pipeline(policy, now=now, subject_key=SUBJECT_KEY, directory=directory)
    result = ready.process(notice("threat"), None, SRC)
    decided = _by_role(result)
    school = decided["school"]
    assert school.outcome is Outcome.deny
    assert school.organisation is None
    assert school.reasons[-1].startswith("organisation-retired: skole-9002, the school ")
    assert all(ready.recipient_of(m) != "school" for m in result.deliveries)
    audited = [json.loads(m.value) for m in result.audit_records]
    (record,) = [a for a in audited if a["recipient"] == "school"]
    assert (record["outcome"], record.get("delivery_id")) == ("deny", None)
    assert record["reasons"][-1].startswith("organisation-retired: ")
    assert decided["child-welfare"].outcome is Outcome.deliver
    assert decided["child-welfare"].organisation == "bydel-frogner-barnevern"


def test_a_change_of_directory_is_a_new_policy_version_in_every_decision(
    tmp_path: Path, now: datetime, notice: Callable[..., dict[str, Any]]
) -> None:
    """directory.yaml counts toward the policy version: one organisation added, and every
    decision and audit record names the new version."""
    copy = tmp_path / "policies"
    shutil.copytree(POLICIES, copy)
    before = load_policy(copy)
    path = copy / "directory.yaml"
    school = {"id": "skole-9100", "name": "Ny", "kind": "school", "school_id": "osloskolen-9100"}
    new, _ = added(path.read_bytes(), str(path), before.recipients, school)
    path.write_bytes(new)
    after = load_policy(copy)
    assert after.version != before.version
    for policy in (before, after):
        result = ready_pipeline(policy, now=now, subject_key=SUBJECT_KEY).process(
            notice("threat"), None, SRC
        )
        assert {d.policy_version for d in result.decisions} == {policy.version}
        audited = {json.loads(m.value)["policy_version"] for m in result.audit_records}
        assert audited == {policy.version}
