"""Policy loading rejects bad files by name; decisions deny by default and cite the law."""

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from broker.adapters.policy_files import load_policy
from broker.core.errors import PolicyError
from broker.core.notices import IncidentNotice, RiskNotice
from broker.core.policy import PolicySet, decide
from broker.core.records import Outcome
from tests.conftest import ROOT


def _decide(policy: PolicySet, doc: dict[str, Any], recipient: str) -> Any:
    model = RiskNotice if doc["notice_type"] == "risk" else IncidentNotice
    notice = model.model_validate(doc)
    data = notice.model_dump(mode="json", exclude_none=True)
    return decide(
        policy,
        sender="police",
        notice_type=notice.notice_type,
        recipient=recipient,
        doc=data,
        context={"notice": data, "child_age": notice.child_age()},
    )


def test_shipped_policies_load(policy: PolicySet) -> None:
    """The shipped policy set is valid and every rule cites a catalogued basis."""
    assert policy.version.startswith("sha256:")
    assert {r.legal_basis for r in policy.rules} <= set(policy.legal_bases)


def test_school_receives_only_its_fields(
    policy: PolicySet, notice: Callable[..., dict[str, Any]]
) -> None:
    """The school gets identity and measures, not the national id, family or intelligence."""
    v = _decide(policy, notice("threat"), "school")
    assert v.outcome is Outcome.deliver
    assert v.legal_basis.id == "prl-27-2-1"
    copy = v.redacted.copy
    assert copy["child"] == {
        "name": notice("threat")["child"]["name"],
        "school": notice("threat")["child"]["school"],
    }
    for withheld in ("guardians", "intelligence", "necessity"):
        assert withheld not in copy
    assert "child.national_id" in v.redacted.withheld
    assert "risk.summary" in v.redacted.withheld


def test_child_welfare_receives_more_than_school(
    policy: PolicySet, notice: Callable[..., dict[str, Any]]
) -> None:
    """Child welfare (prl-30) gets identity and guardians that the school does not; the school
    alone learns who is threatened and by whom."""
    cw = _decide(policy, notice("threat"), "child-welfare")
    school = _decide(policy, notice("threat"), "school")
    assert cw.legal_basis.id == "prl-30"
    threatened = {p for p in school.redacted.kept if p.startswith("risk.threatened")}
    assert set(school.redacted.kept) - threatened < set(cw.redacted.kept)
    assert "child.national_id" in cw.redacted.kept
    assert "guardians[].name" in cw.redacted.kept
    assert "intelligence.sources[]" in cw.redacted.withheld


def test_recipient_without_rule_is_denied(
    policy: PolicySet, notice: Callable[..., dict[str, Any]]
) -> None:
    """No rule, no delivery, and the reason says so."""
    v = _decide(policy, notice("recruited"), "youth-club")
    assert v.outcome is Outcome.deny
    assert v.redacted is None
    assert v.reasons[0].startswith("no-rule:")


def test_unknown_recipient_is_denied(
    policy: PolicySet, notice: Callable[..., dict[str, Any]]
) -> None:
    """A recipient not in the registry is denied, not guessed at."""
    v = _decide(policy, notice("recruited"), "newspaper")
    assert v.outcome is Outcome.deny
    assert v.reasons == ("unknown-recipient: newspaper",)


def test_discretionary_basis_needs_necessity(
    policy: PolicySet, notice: Callable[..., dict[str, Any]]
) -> None:
    """Without the necessity assessment, prl-27-2-1 cannot release anything to the school."""
    v = _decide(policy, notice("threat", necessity=None), "school")
    assert v.outcome is Outcome.deny
    assert any(r.startswith("necessity-missing: rule risk-school-prevent") for r in v.reasons)


def test_salto_at_child_level_without_consent(
    policy: PolicySet, notice: Callable[..., dict[str, Any]]
) -> None:
    """SaLTo falls through the consent rule to the cooperation rule (prl § 27 fourth
    paragraph): the name, district and school, never the national id, birth date, address or
    guardians, and the notice id only as a pseudonym (its copy cannot be joined with another
    recipient's)."""
    doc = notice("threat")
    v = _decide(policy, doc, "salto")
    assert v.rule.id == "risk-salto-cooperation"
    assert any(r.startswith("consent-missing: rule risk-salto-consent") for r in v.reasons)
    assert v.redacted.copy["notice_id"] != doc["notice_id"]
    assert v.redacted.copy["notice_id"].startswith("ps:")
    assert v.redacted.copy["child"] == {
        "name": doc["child"]["name"],
        "district": "Frogner",
        "school": doc["child"]["school"],
    }
    text = str(v.redacted.copy)
    for value in (doc["notice_id"], doc["child"]["birth_date"], doc["child"]["national_id"]):
        assert value not in text
    assert "guardians" not in v.redacted.copy


def test_salto_identified_with_consent(
    policy: PolicySet, notice: Callable[..., dict[str, Any]]
) -> None:
    """A consent reference lets the consent rule (prl-24-1) release the name."""
    consent = {"reference": "SAK-1", "given_by": "guardian", "given_at": "2026-11-20T10:00:00Z"}
    v = _decide(policy, notice("threat", consent=consent), "salto")
    assert v.legal_basis.id == "prl-24-1"
    assert "child.name" in v.redacted.kept


def test_condition_false_denies(policy: PolicySet, notice: Callable[..., dict[str, Any]]) -> None:
    """A robbery with no threat to the school gives the school nothing."""
    v = _decide(policy, notice("robbery"), "school")
    assert v.outcome is Outcome.deny
    assert v.reasons == (
        "condition-false: rule incident-school-prevent",
        "condition-false: rule incident-school-safety-plan",
    )


# --- bad policy files ------------------------------------------------------------------------


@pytest.fixture
def policy_copy(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", target)
    return target


def _break(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        (
            "rules.yaml",
            "      child.name: keep\n",
            "      child.nmae: keep\n",
            "'child.nmae' is not a field",
        ),
        (
            "rules.yaml",
            "legal_basis: opl-24-3",
            "legal_basis: bvl-99",
            "unknown legal basis 'bvl-99'",
        ),
        ("rules.yaml", "recipient: school", "recipient: scool", "unknown recipient 'scool'"),
        (
            "rules.yaml",
            "      child.name: keep\n",
            "      child.name: generalise:age-band\n",
            "generalise:age-band applies to date/integer values, not string",
        ),
        ("rules.yaml", "      child.name: keep\n", "      child.name: hide\n", "unknown operator"),
        ("rules.yaml", "    sender: school\n", "    sender: police\n", "sent by 'school'"),
        (
            "rules.yaml",
            "condition: child_age < 18\n",
            "condition: child_age <\n",
            "not a valid CEL",
        ),
        ("rules.yaml", "rules:", "rules: [", "not valid YAML"),
        ("legal-bases.yaml", "    status: confirmed", "    status: maybe", "status"),
        ("recipients.yaml", "id: salto", "id: school", "school: duplicate id"),
    ],
)
def test_bad_policy_file_is_named(
    policy_copy: Path, file: str, old: str, new: str, message: str
) -> None:
    """A broken policy file stops loading with the file's name and the problem."""
    _break(policy_copy / file, old, new)
    with pytest.raises(PolicyError) as exc:
        load_policy(policy_copy)
    assert exc.value.file.endswith(file)
    assert message in str(exc.value)


def test_policy_version_changes_with_content(policy_copy: Path, policy: PolicySet) -> None:
    """Any edit gives a new policy version; an identical copy keeps it."""
    assert load_policy(policy_copy).version == policy.version
    _break(policy_copy / "rules.yaml", "      en: The police", "      en: Edited. The police")
    assert load_policy(policy_copy).version != policy.version
