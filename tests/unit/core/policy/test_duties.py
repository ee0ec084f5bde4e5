"""policies/duties.yaml: loaded with the policy, counted in its version, and refused with the
file, duty and field named when it names a basis, recipient or code that does not exist."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from broker.adapters.policy_files import load_policy
from broker.core.errors import PolicyError
from broker.core.policy import PolicySet
from broker.core.policy.duties import DutyKind, opened
from broker.core.policy.load import policy_version
from tests.conftest import ROOT


def test_the_shipped_catalogue_holds_the_duties_of_issue_13(policy: PolicySet) -> None:
    """The four obligations, and the two duties the rules enforce, described."""
    kinds = {d.id: d.kind for d in policy.duties}
    assert kinds == {
        "inform-data-subject": DutyKind.obligation,
        "concern-receipt": DutyKind.obligation,
        "concern-review": DutyKind.obligation,
        "follow-up-feedback": DutyKind.obligation,
        "controller-decision": DutyKind.precondition,
        "confidentiality-imposed": DutyKind.marker,
    }
    deadlines = {d.id: d.deadline_days for d in policy.duties}
    assert (deadlines["concern-receipt"], deadlines["concern-review"]) == (21, 7)


def test_a_police_disclosure_under_a_listed_basis_opens_the_duty_to_inform(
    policy: PolicySet,
) -> None:
    """prl § 27 second paragraph to a school opens it; the school's own report under opl § 24-3
    does not (the duty is the police's); a police notification to child welfare under prf § 10-2
    opens the feedback duties too."""
    assert opened(
        policy.duties,
        sender="police",
        basis="prl-27-2-1",
        notice_type="incident",
        recipient="school",
        status=None,
    ) == ["inform-data-subject"]
    assert opened(
        policy.duties,
        sender="school",
        basis="opl-24-3",
        notice_type="concern-report",
        recipient="child-welfare",
        status=None,
    ) == ["concern-receipt", "concern-review"]
    assert opened(
        policy.duties,
        sender="police",
        basis="prf-10-2",
        notice_type="incident",
        recipient="child-welfare",
        status=None,
    ) == ["inform-data-subject", "concern-receipt", "concern-review"]
    assert opened(
        policy.duties,
        sender="child-welfare",
        basis="bvl-feedback",
        notice_type="concern-feedback",
        recipient="police",
        status="investigating",
    ) == ["follow-up-feedback"]


@pytest.fixture
def policy_copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "policies", tmp_path / "p")
    return tmp_path / "p"


def _edit(copy: Path, old: str, new: str) -> None:
    path = copy / "duties.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_an_unknown_basis_is_refused_naming_the_duty(policy_copy: Path) -> None:
    """A basis renamed in legal-bases.yaml but not here would open nothing: refused."""
    _edit(policy_copy, "- prl-30", "- prl-recipient")
    with pytest.raises(PolicyError) as exc:
        load_policy(policy_copy)
    assert exc.value.file.endswith("duties.yaml")
    assert exc.value.problems == [
        "inform-data-subject: opens.0.bases: unknown legal basis 'prl-recipient'"
    ]


def test_an_unknown_recipient_or_status_is_refused(policy_copy: Path) -> None:
    _edit(policy_copy, "recipients: [child-welfare]", "recipients: [barnehage]")
    _edit(policy_copy, "statuses: [investigating]", "statuses: [pondering]")
    with pytest.raises(PolicyError) as exc:
        load_policy(policy_copy)
    assert any("follow-up-feedback: opens.0.statuses.0" in p for p in exc.value.problems)


def test_an_obligation_without_what_closes_it_is_refused(policy_copy: Path) -> None:
    _edit(policy_copy, "      feedback: [followed-up, not-followed-up]\n", "")
    _edit(policy_copy, "    closes:\n    deadline_note:\n", "    deadline_note:\n")
    with pytest.raises(PolicyError) as exc:
        load_policy(policy_copy)
    assert any(p.startswith("follow-up-feedback: (entry)") for p in exc.value.problems), (
        exc.value.problems
    )


def test_the_duties_file_counts_toward_the_policy_version(policy_copy: Path) -> None:
    assert policy_version({"duties.yaml": b"x"}) != policy_version({"duties.yaml": b"y"})
    before = load_policy(policy_copy).version
    _edit(policy_copy, "deadline_days: 21", "deadline_days: 20")
    assert load_policy(policy_copy).version != before
