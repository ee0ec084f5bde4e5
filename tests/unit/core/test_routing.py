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

import pytest

from broker.adapters.examples import EXAMPLES
from broker.adapters.policy_files import load_policy
from broker.core.crypto import sealing
from broker.core.directory_edit import added, retired
from broker.core.paths import leaves
from broker.core.pipeline import Result, Source
from broker.core.policy import PolicySet
from broker.core.records import Decision, Outcome
from broker.testing.fakes import ReadyPipeline, ready_pipeline
from tests.conftest import POLICIES, SUBJECT_KEY, redate

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


# --- a child who moved: two districts named, one delivered to ---------------------------------

MOVED = EXAMPLES / "other-senders" / "03-school-concern-report-moved-child.json"
ALNA = "bydel-alna-barnevern"


def _moved(now: datetime) -> dict[str, Any]:
    """The school's concern report about a pupil who moved from Alna to Søndre Nordstrand."""
    doc: dict[str, Any] = redate(json.loads(MOVED.read_text(encoding="utf-8")), now)
    return doc


def _audited(result: Result) -> dict[str, dict[str, Any]]:
    return {json.loads(m.value)["recipient"]: json.loads(m.value) for m in result.audit_records}


def test_a_moved_childs_report_goes_to_the_district_the_child_lives_in(
    ready: ReadyPipeline, now: datetime
) -> None:
    """The current district's service receives the report and can open it; the service of
    the district the child moved from receives nothing and cannot open that copy."""
    result = ready.process(_moved(now), None, SRC)
    welfare = _by_role(result)["child-welfare"]
    assert (welfare.outcome, welfare.organisation) == (
        "deliver",
        "bydel-sondre-nordstrand-barnevern",
    )
    (copy,) = [m for m in result.deliveries if ready.recipient_of(m) == "child-welfare"]
    assert ready.organisation_of(copy) == "bydel-sondre-nordstrand-barnevern"
    opened = ready.open(copy)
    assert opened["notice"]["child"]["previous_district"] == "Alna"
    assert ALNA not in {ready.organisation_of(m) for m in result.deliveries}
    alna = sealing.DeliveryOpener(ready.keys.registry, ALNA, ready.keys.decryption_keys(ALNA))
    with pytest.raises(sealing.DecryptionError):
        alna.open(dict(copy.headers), copy.value)


def test_the_audit_record_names_both_districts_services(
    ready: ReadyPipeline, now: datetime
) -> None:
    """Child welfare's decision and audit record name the service that received and, in
    also_concerned, the one the notice also names; no record says the latter received."""
    result = ready.process(_moved(now), None, SRC)
    assert _by_role(result)["child-welfare"].also_concerned == [ALNA]
    audited = _audited(result)
    record = audited["child-welfare"]
    assert record["organisation"] == "bydel-sondre-nordstrand-barnevern"
    assert record["also_concerned"] == [ALNA]
    assert record["delivery_topic"].endswith(".bydel-sondre-nordstrand-barnevern")
    assert all(a.get("organisation") != ALNA for a in audited.values())
    others = {r: a.get("also_concerned", []) for r, a in audited.items() if r != "child-welfare"}
    assert others == {r: [] for r in others}  # only the role resolved by district names it


def test_the_moved_childs_audit_records_hold_no_value_of_the_notice(
    ready: ReadyPipeline, now: datetime
) -> None:
    """Both districts are named by organisation id; no value of the notice (the districts'
    names included) is in any audit record."""
    doc = _moved(now)
    text = b"\n".join(m.value for m in ready.process(doc, None, SRC).audit_records).decode()
    about = ("child.", "guardians", "contact.", "concern.description", "purpose")
    values = {str(v) for p, v in leaves(doc) if p.startswith(about)}
    assert {"Alna", "Søndre Nordstrand"} <= values
    assert [v for v in values if v in text] == []


def test_a_police_notice_about_a_moved_child_goes_where_the_rules_say(
    ready: ReadyPipeline, notice: Callable[..., dict[str, Any]]
) -> None:
    """Naming a previous district changes no outcome and no organisation, only what is named."""
    usual = _by_role(ready.process(notice("recruited"), None, SRC))
    moved = _by_role(ready.process(notice("recruited", child__previous_district="Alna"), None, SRC))
    assert {r: (d.outcome, d.organisation) for r, d in moved.items()} == {
        r: (d.outcome, d.organisation) for r, d in usual.items()
    }
    assert moved["child-welfare"].organisation == "bydel-grorud-barnevern"
    assert moved["child-welfare"].also_concerned == [ALNA]
    assert usual["child-welfare"].also_concerned == []


def test_an_unknown_previous_district_is_noted_and_the_delivery_still_goes(
    ready: ReadyPipeline, notice: Callable[..., dict[str, Any]]
) -> None:
    """A previous district the directory does not list (here a municipality outside Oslo):
    the current district still receives; the decision notes it with its own reason code,
    names no organisation for it and never its value."""
    result = ready.process(notice("recruited", child__previous_district="Bærum"), None, SRC)
    welfare = _by_role(result)["child-welfare"]
    assert (welfare.outcome, welfare.organisation) == ("deliver", "bydel-grorud-barnevern")
    assert welfare.also_concerned == []
    assert welfare.reasons[0].startswith("unknown-previous-district: ")
    assert welfare.reasons[-1].startswith("allowed: rule ")  # the deciding reason stays last
    record = _audited(result)["child-welfare"]
    assert record["reasons"][0].startswith("unknown-previous-district: ")
    assert "Bærum" not in json.dumps(record, ensure_ascii=False)
    assert [ready.recipient_of(m) for m in result.deliveries].count("child-welfare") == 1


def test_an_unknown_current_district_never_falls_back_to_the_previous_one(
    ready: ReadyPipeline, notice: Callable[..., dict[str, Any]]
) -> None:
    """The district the child lives in is not listed: child welfare is denied (unknown-district),
    the previous district's service is named and still receives nothing."""
    doc = notice("recruited", child__district="Atlantis", child__previous_district="Alna")
    result = ready.process(doc, None, SRC)
    welfare = _by_role(result)["child-welfare"]
    assert (welfare.outcome, welfare.organisation) == ("deny", None)
    assert welfare.reasons[-1].startswith("unknown-district: ")
    assert welfare.also_concerned == [ALNA]
    assert all(ready.recipient_of(m) != "child-welfare" for m in result.deliveries)


def test_only_child_welfare_copies_carry_the_previous_district(
    ready: ReadyPipeline, notice: Callable[..., dict[str, Any]]
) -> None:
    """child.previous_district is released by the rules that keep all of ``child`` (child
    welfare, Barnevernvakta) and withheld by default from every other recipient, SaLTo's
    copies included, though they keep child.district."""
    doc = notice("threat", child__previous_district="Alna", risk__level="critical")
    decided = _by_role(ready.process(doc, None, SRC))
    path = "child.previous_district"
    kept = {r for r, d in decided.items() if path in d.fields_kept}
    assert kept == {"child-welfare", "barnevernvakta"}
    assert all(path in d.fields_withheld for r, d in decided.items() if r not in kept)
    assert "child.district" in decided["salto"].fields_kept


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
