"""The catalogue of legal bases as the law reads: citations, status and source, validity
periods and successors (the 1967 and 2025 forvaltningsloven held side by side), the basis in
force on a date, and the open legal questions. Every date is injected, never today's."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from broker.adapters.locale import load_translator
from broker.adapters.policy_files import load_policy
from broker.core.errors import PolicyError
from broker.core.pipeline import Source
from broker.core.policy import PolicySet
from broker.core.policy.lint import Severity, lint
from broker.core.policy.model import Commencement, Status, basis_in_force
from broker.core.policy.report import markdown
from broker.core.records import Outcome
from broker.testing.fakes import ready_pipeline
from broker.testing.policies import verdict
from tests.conftest import ROOT, SUBJECT_KEY, redate

EN = load_translator("en")  # these tests read the English report

POLICIES = ROOT / "policies"
CONCERN = POLICIES / "tests" / "notices" / "concern-report.json"
NOTICE_SENT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)  # the day the test notices are dated


@pytest.fixture
def policy_copy(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target)
    return target


def _edit_basis(directory: Path, basis_id: str, old: str, new: str) -> None:
    """Replace ``old`` with ``new`` within one basis' entry of legal-bases.yaml."""
    path = directory / "legal-bases.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index(f"  - id: {basis_id}\n")
    end = text.find("\n  - id: ", start + 1)
    end = len(text) if end < 0 else end
    entry = text[start:end]
    assert old in entry, (basis_id, old)
    path.write_text(text[:start] + entry.replace(old, new, 1) + text[end:], encoding="utf-8")


def _commence(directory: Path, day: str) -> PolicySet:
    """The King's decision, as a lawyer would enter it: the 2025 act in force from ``day``."""
    for new in ("fvl2025-30", "fvl2025-34-1-m", "fvl2025-34-1-j"):
        _edit_basis(directory, new, "commencement: pending", f"valid_from: {day}")
    for old, successor in (
        ("fvl-13", "fvl2025-30"),
        ("fvl-13b-7", "fvl2025-34-1-m"),
        ("fvl-13b-6", "fvl2025-34-1-j"),
    ):
        _edit_basis(
            directory,
            old,
            f"successor: {successor}",
            f"valid_to: {day}\n    successor: {successor}",
        )
    return load_policy(directory)


def _concern_report(on: datetime, **changes: Any) -> dict[str, Any]:
    """The test concern report, its dates moved to ``on`` and issued at ``on`` exactly."""
    doc: dict[str, Any] = redate(json.loads(CONCERN.read_text(encoding="utf-8")), on)
    doc.update(changes, issued_at=on.isoformat())
    return doc


def _verdict(policy: PolicySet, doc: dict[str, Any], recipient: str) -> Any:
    """Typed loosely: these tests read the parts of a verdict they expect to be there."""
    return verdict(policy, doc, recipient)


# --- the shipped catalogue -------------------------------------------------------------------


def test_every_shipped_basis_cites_statute_status_and_its_lovdata_page(policy: PolicySet) -> None:
    for basis in policy.legal_bases.values():
        assert re.fullmatch(r"(LOV|FOR)-\d{4}-\d{2}-\d{2}(-\d+)?", basis.statute.id), basis.id
        assert basis.source.startswith(basis.statute.page), basis.id
        assert basis.status in set(Status)
        assert "\n" not in basis.summary.nb + basis.summary.en
    assert policy.legal_bases["gdpr"].status is Status.inferred  # not in the shared notes


def test_citations_read_as_a_lawyer_writes_them(policy: PolicySet) -> None:
    bases = policy.legal_bases
    assert bases["prl-24-1"].citation == "§ 24 nr. 1"
    assert bases["fvl-13b-7"].citation == "§ 13 b nr. 7"
    assert bases["bvl-13-2"].citation == "§ 13-2 first paragraph"
    assert bases["fvl2025-34-1-m"].citation == "§ 34 first paragraph letter m"
    assert bases["fvl2025-34-1-j"].citation == "§ 34 first paragraph letter j"
    ref = bases["fvl-13b-7"].ref()
    assert (ref.statute, ref.citation, ref.status) == (
        "Forvaltningsloven (LOV-1967-02-10)",
        "§ 13 b nr. 7",
        "confirmed",
    )
    assert ref.source == "https://lovdata.no/dokument/NL/lov/1967-02-10"


def test_the_2025_successors_are_held_and_not_yet_in_force(policy: PolicySet) -> None:
    bases = policy.legal_bases
    assert bases["fvl-13b-7"].successor == "fvl2025-34-1-m"
    assert bases["fvl-13b-6"].successor == "fvl2025-34-1-j"
    for new in ("fvl2025-34-1-m", "fvl2025-34-1-j"):
        assert bases[new].statute.id == "LOV-2025-06-20-81"
        assert bases[new].commencement is Commencement.pending
        assert not bases[new].in_force(date(2099, 1, 1))


# --- the basis in force on a date -------------------------------------------------------------


def test_the_old_basis_is_in_force_while_the_commencement_is_pending(policy: PolicySet) -> None:
    bases = policy.legal_bases
    assert basis_in_force(bases, "fvl-13b-7", date(2026, 12, 1)) is bases["fvl-13b-7"]
    assert basis_in_force(bases, "fvl-13b-7", date(2040, 1, 1)) is bases["fvl-13b-7"]
    assert basis_in_force(bases, "fvl-13b-7", date(2021, 6, 30)) is None  # before 1.7.2021
    assert basis_in_force(bases, "fvl2025-34-1-m", date(2040, 1, 1)) is None
    assert basis_in_force(bases, "no-such-basis", date(2026, 12, 1)) is None


def test_the_successor_is_chosen_from_its_commencement_date(policy_copy: Path) -> None:
    bases = _commence(policy_copy, "2027-07-01").legal_bases
    old, new = bases["fvl-13b-7"], bases["fvl2025-34-1-m"]
    assert basis_in_force(bases, "fvl-13b-7", date(2027, 6, 30)) is old
    assert basis_in_force(bases, "fvl-13b-7", date(2027, 7, 1)) is new  # valid_to is exclusive
    assert basis_in_force(bases, "fvl2025-34-1-m", date(2027, 6, 30)) is None


def test_a_rule_whose_basis_is_no_longer_in_force_denies_with_its_own_reason(
    policy_copy: Path,
) -> None:
    policy = _commence(policy_copy, "2027-07-01")
    before = _concern_report(datetime(2027, 6, 30, 9, tzinfo=UTC), danger_to_life_or_health=True)
    assert _verdict(policy, before, "police").outcome is Outcome.deliver
    after = _concern_report(datetime(2027, 7, 1, 9, tzinfo=UTC), danger_to_life_or_health=True)
    verdict = _verdict(policy, after, "police")
    assert verdict.outcome is Outcome.deny
    assert verdict.reasons == (
        "basis-not-in-force: rule concern-report-police-urgent cites fvl-13b-7, not in force on "
        "2027-07-01 (in force: fvl2025-34-1-m)",
    )


def test_a_rule_citing_a_pending_basis_denies(policy_copy: Path) -> None:
    rules = policy_copy / "rules.yaml"
    text = rules.read_text(encoding="utf-8")
    at = text.index("  - id: concern-report-police-urgent")
    old = "legal_basis: fvl-13b-7"
    at = text.index(old, at)
    rules.write_text(text[:at] + "legal_basis: fvl2025-34-1-m" + text[at + len(old) :])
    policy = load_policy(policy_copy)
    doc = _concern_report(NOTICE_SENT, danger_to_life_or_health=True)
    verdict = _verdict(policy, doc, "police")
    assert verdict.outcome is Outcome.deny
    assert verdict.reasons[0].startswith(
        "basis-not-in-force: rule concern-report-police-urgent cites fvl2025-34-1-m"
    )


def test_the_denial_is_audited_with_the_notices_issue_date(policy_copy: Path) -> None:
    """Through the pipeline, on an injected clock: the audit record names the reason."""
    policy = _commence(policy_copy, "2027-07-01")
    now = datetime(2027, 7, 2, 12, tzinfo=UTC)
    ready = ready_pipeline(policy, now=now, subject_key=SUBJECT_KEY)
    doc = _concern_report(now, danger_to_life_or_health=True)
    result = ready.process(doc, None, Source("t.notices", 0, 1))
    assert result.dead_letter is None, result.error
    records = {r["recipient"]: r for r in (json.loads(m.value) for m in result.audit_records)}
    police = records["police"]
    assert police["outcome"] == "deny"
    assert police["reasons"][0].startswith("basis-not-in-force: rule concern-report-police-urgent")
    assert records["child-welfare"]["outcome"] == "deliver"  # bvl § 13-2 has no end date


# --- loading ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("basis", "old", "new", "problem"),
    [
        (
            "fvl-13b-7",
            "successor: fvl2025-34-1-m",
            "successor: fvl2025-99",
            "fvl-13b-7: successor: unknown legal basis 'fvl2025-99'",
        ),
        (
            "fvl2025-34-1-m",
            "commencement: pending",
            "commencement: pending\n    valid_from: 2027-07-01",
            "fvl2025-34-1-m: (entry): Value error, commencement: pending and valid_from exclude",
        ),
        (
            "fvl2025-34-1-m",
            "commencement: pending",
            "valid_from: 2027-07-01",
            "fvl-13b-7: valid_to: must be 2027-07-01, the valid_from of its successor",
        ),
        (
            "prl-23",
            "source: https://lovdata.no/dokument/NL/lov/2010-05-28-16",
            "source: https://lovdata.no/dokument/NL/lov/2005-05-20-28",
            "prl-23: (entry): Value error, source must be the page of LOV-2010-05-28-16",
        ),
        (
            "fvl2025-34-1-j",
            "commencement: pending",
            "commencement: pending\n    successor: fvl-13b-6",
            "fvl-13b-6: successor: a loop (fvl-13b-6 -> fvl2025-34-1-j -> fvl-13b-6)",
        ),
        ("prl-23", "status: confirmed", "status: verified", "prl-23: status: Input should be"),
        ("prl-23", 'section: "§ 23"', 'section: "23"', "prl-23: section: String should match"),
    ],
)
def test_a_bad_basis_is_named_with_its_problem(
    policy_copy: Path, basis: str, old: str, new: str, problem: str
) -> None:
    _edit_basis(policy_copy, basis, old, new)
    with pytest.raises(PolicyError) as exc:
        load_policy(policy_copy)
    assert exc.value.file.endswith("legal-bases.yaml")
    assert any(p.startswith(problem) for p in exc.value.problems), exc.value.problems


# --- lint ------------------------------------------------------------------------------------


def test_a_rule_citing_a_basis_with_a_successor_is_named(policy: PolicySet) -> None:
    """A note while the commencement is pending: nothing to change yet, and the gate stays
    open."""
    found = {
        (f.subject, f.severity)
        for f in lint(policy, samples=200)
        if f.code == "basis-has-successor"
    }
    assert found == {
        ("concern-report-police-urgent", Severity.info),
        ("concern-report-barnevernvakta-urgent", Severity.info),
    }


def test_once_the_successor_has_a_date_the_rule_is_a_warning(policy_copy: Path) -> None:
    policy = _commence(policy_copy, "2027-07-01")
    warned = [
        f
        for f in lint(policy, samples=200)
        if f.code == "basis-has-successor" and f.severity is Severity.warning
    ]
    assert {f.subject for f in warned} == {
        "concern-report-police-urgent",
        "concern-report-barnevernvakta-urgent",
    }
    assert "in force from 2027-07-01" in warned[0].message


# --- open questions --------------------------------------------------------------------------


def test_the_open_questions_are_loaded(policy: PolicySet) -> None:
    questions = {q.id: q for q in policy.open_questions}
    assert set(questions) == {
        "consent-for-a-minor",
        "school-consent-successor",
        "school-staff-threat-basis",
        "danger-not-an-offence",
        "salto-processing-basis",
        "expert-group-report",
    }
    assert all(q.status.value == "open" for q in questions.values())
    assert questions["consent-for-a-minor"].bases == ["prl-24-1", "fvl-13a-1"]


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (
            "bases: [prl-24-1, fvl-13a-1]",
            "bases: [prl-24-9, fvl-13a-1]",
            "consent-for-a-minor: bases: unknown legal basis 'prl-24-9'",
        ),
        (
            "rules: [risk-salto-consent, concern-report-child-welfare-consent]\n",
            "rules: [no-such-rule]\n",
            "consent-for-a-minor: rules: unknown rule 'no-such-rule'",
        ),
        ("status: open", "status: answered", "consent-for-a-minor: (entry): Value error, an ans"),
    ],
)
def test_a_bad_open_question_is_named(policy_copy: Path, old: str, new: str, problem: str) -> None:
    path = policy_copy / "open-questions.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")
    with pytest.raises(PolicyError) as exc:
        load_policy(policy_copy)
    assert exc.value.file.endswith("open-questions.yaml")
    assert any(p.startswith(problem) for p in exc.value.problems), exc.value.problems


def test_open_questions_count_toward_the_version(policy_copy: Path, policy: PolicySet) -> None:
    path = policy_copy / "open-questions.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "\n# reviewed\n", encoding="utf-8")
    assert load_policy(policy_copy).version != policy.version


def test_the_report_lists_the_open_questions_and_each_basis_source(policy: PolicySet) -> None:
    md = markdown(policy, EN)
    section = md[md.index("## Open legal questions") :]
    assert "| consent-for-a-minor | Who may consent for a minor" in section
    assert "| expert-group-report |" in section
    assert "https://lovdata.no/dokument/NL/lov/2025-06-20-81" in md
    assert "not yet: commencement pending" in md
