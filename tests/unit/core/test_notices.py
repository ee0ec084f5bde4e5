"""Notice models: the examples validate; bad input names the field and the reason."""

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from broker.adapters.examples import EXAMPLES
from broker.core.envelope import field_problems
from broker.core.notices import IncidentNotice, RiskNotice


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_examples_are_valid_notices(path: Any) -> None:
    """Every shipped example validates against its notice type."""
    text = path.read_text(encoding="utf-8")
    model = RiskNotice if '"notice_type": "risk"' in text else IncidentNotice
    notice = model.model_validate_json(text)
    assert notice.child_age() < 18


def _problems(model: Any, doc: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as exc:
        model.model_validate(doc)
    return [str(p) for p in field_problems(exc.value)]


def test_unknown_field_is_rejected(notice: Callable[..., dict[str, Any]]) -> None:
    """A typo'd field is an error, not silently unshared data."""
    doc = notice("recruited", chld="x")
    assert _problems(IncidentNotice, doc) == ["chld: Extra inputs are not permitted"]


def test_birth_date_must_match_national_id(notice: Callable[..., dict[str, Any]]) -> None:
    """The birth date is cross-checked with the national id, and the error has no values."""
    doc = notice("recruited")
    born = date.fromisoformat(doc["child"]["birth_date"])
    doc["child"]["birth_date"] = (born + timedelta(days=1)).isoformat()
    problems = _problems(IncidentNotice, doc)
    assert problems == ["child: Value error, birth_date does not match the national id number"]
    assert doc["child"]["national_id"] not in problems[0]


@pytest.mark.parametrize("previous", ["Grorud", "grorud", " Grorud "])
def test_previous_district_must_differ_from_district(
    notice: Callable[..., dict[str, Any]], previous: str
) -> None:
    """A child who moved names two districts; the same one twice is a mistake, refused."""
    doc = notice("recruited", child__previous_district=previous)  # lives in Grorud
    problems = _problems(IncidentNotice, doc)
    assert problems == ["child: Value error, previous_district must differ from district"]


@pytest.mark.parametrize(
    ("previous", "problem"),
    [
        ("", "child.previous_district: String should have at least 1 character"),
        ("x" * 201, "child.previous_district: String should have at most 200 characters"),
        (7, "child.previous_district: Input should be a valid string"),
    ],
    ids=["empty", "too long", "not text"],
)
def test_previous_district_is_short_text(
    notice: Callable[..., dict[str, Any]], previous: Any, problem: str
) -> None:
    doc = notice("recruited", child__previous_district=previous)
    assert _problems(IncidentNotice, doc) == [problem]


def test_previous_district_is_optional_and_checked_against_the_directory_later(
    notice: Callable[..., dict[str, Any]],
) -> None:
    """Omitted, it is None; a name that is no Oslo district (a municipality the child moved
    from) is valid here: routing notes it, so that it cannot cost the current district its copy."""
    assert IncidentNotice.model_validate(notice("recruited")).child.previous_district is None
    doc = notice("recruited", child__previous_district="Bærum")
    assert IncidentNotice.model_validate(doc).child.previous_district == "Bærum"


def test_issued_at_needs_a_time_zone(notice: Callable[..., dict[str, Any]]) -> None:
    """A naive timestamp is ambiguous across agencies and refused."""
    doc = notice("recruited", issued_at="2026-11-24T09:15:00")
    assert any("issued_at must carry a time zone" in p for p in _problems(IncidentNotice, doc))


def test_risk_notice_needs_someone_at_risk(notice: Callable[..., dict[str, Any]]) -> None:
    """risk.at_risk may not be empty."""
    doc = notice("threat", risk__at_risk=[])
    assert [p for p in _problems(RiskNotice, doc) if p.startswith("risk.at_risk")]


def test_child_age_is_whole_years_on_issue_day(notice: Callable[..., dict[str, Any]]) -> None:
    """Age counts birthdays up to the day the notice was issued."""
    doc = notice("recruited")  # issued 14 years and 6 months after the child was born
    assert IncidentNotice.model_validate(doc).child_age() == 14
