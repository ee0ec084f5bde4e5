"""The letter to the guardians: names from the notice, the organisation, the law and the
fields as words, dates as Norwegians write them in Oslo time; never the national id."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
from pydantic import TypeAdapter

from broker.adapters.locale import load_translator
from broker.core.citations import citation
from broker.core.labels import field_label
from broker.core.letter import Letter, LetterError, field_lines, render
from broker.core.notices import Notice, RiskNotice
from broker.core.policy.model import PolicySet
from broker.core.records import AuditRecord
from broker.testing.fakes import ReadyPipeline

NB = load_translator("nb")  # Oslo time, as the CLI passes it
EN = load_translator("en")
NOTICE = TypeAdapter(Notice)


def _school_record(ready: ReadyPipeline, doc: dict[str, Any]) -> AuditRecord:
    result = ready.process(doc)
    records = [AuditRecord.model_validate_json(m.value) for m in result.audit_records]
    return next(r for r in records if r.recipient == "school" and r.outcome == "deliver")


def test_the_letter_tells_who_got_what_when_and_under_which_law(
    ready: ReadyPipeline, notice: Callable[..., dict[str, Any]]
) -> None:
    doc = notice("threat")
    record = _school_record(ready, doc)
    record = record.model_copy(update={"recorded_at": datetime(2026, 11, 30, 23, 30, tzinfo=UTC)})
    parsed = RiskNotice.model_validate(doc)
    school = "Vestre Lindeløkka skole"
    text = render(Letter(record, parsed, school), NB, date(2026, 12, 2))
    assert parsed.child.name in text
    for guardian in parsed.guardians:
        assert guardian.name in text
    assert school in text
    assert "1. desember 2026" in text  # 23:30 UTC on 30 November is 1 December in Oslo
    assert "Oslo, 2. desember 2026" in text
    assert "politiregisterloven § 27" in text
    assert "barnets navn" in text
    assert "Med vennlig hilsen" in text
    assert parsed.child.national_id not in text
    assert "national_id" not in text
    assert record.record_id in text


def test_the_letter_in_english(ready: ReadyPipeline, notice: Callable[..., dict[str, Any]]) -> None:
    """The same letter in English: the same facts, English words and dates."""
    doc = notice("threat")
    record = _school_record(ready, doc)
    record = record.model_copy(update={"recorded_at": datetime(2026, 11, 30, 23, 30, tzinfo=UTC)})
    text = render(Letter(record, RiskNotice.model_validate(doc), "x"), EN, date(2026, 12, 2))
    assert "Oslo, 2 December 2026" in text
    assert "On 1 December 2026" in text
    assert "Politiregisterloven § 27" in text
    assert "child's name" in text
    assert "Yours sincerely" in text
    assert "barnets" not in text


def test_citations_read_in_norwegian() -> None:
    """'first paragraph letter m' is 'første ledd bokstav m'."""
    assert citation("§ 34 first paragraph letter m", NB) == "§ 34 første ledd bokstav m"


def test_fields_are_words_each_once_and_transformed_ones_say_so() -> None:
    lines = field_lines(
        ["child.name", "child.school.name", "child.school.school_id", "child.birth_date"],
        {"child.birth_date": "generalise(age-band)"},
        NB,
    )
    assert lines == [
        "barnets navn",
        "skolens navn",
        "skolens id",
        "barnets fødselsdato (bare i grove trekk)",
    ]


def test_dates_as_norwegians_write_them() -> None:
    assert NB.day(date(2026, 12, 1)) == "1. desember 2026"
    assert NB.day(date(2027, 5, 17)) == "17. mai 2027"


def test_a_notice_that_is_not_the_records_is_refused(
    ready: ReadyPipeline, notice: Callable[..., dict[str, Any]]
) -> None:
    record = _school_record(ready, notice("threat"))
    other = NOTICE.validate_python(notice("robbery"))
    with pytest.raises(LetterError, match="--notice: the notice is not the one"):
        render(Letter(record, other, "x"), NB, date(2026, 12, 2))


def test_a_deny_makes_no_letter(
    ready: ReadyPipeline, notice: Callable[..., dict[str, Any]]
) -> None:
    doc = notice("threat")
    record = _school_record(ready, doc).model_copy(update={"outcome": "deny"})
    with pytest.raises(LetterError, match="is not a delivery"):
        render(Letter(record, NOTICE.validate_python(doc), "x"), NB, date(2026, 12, 2))


def test_no_guardians_no_letter(
    ready: ReadyPipeline, notice: Callable[..., dict[str, Any]]
) -> None:
    doc = notice("threat", guardians=[])
    record = _school_record(ready, doc)
    with pytest.raises(LetterError, match="names no guardians"):
        render(Letter(record, NOTICE.validate_python(doc), "x"), NB, date(2026, 12, 2))


def test_a_contact_without_a_phone_is_reached_by_email(
    ready: ReadyPipeline, notice: Callable[..., dict[str, Any]]
) -> None:
    contact = {"name": "Kari Nordmann", "role": "politikontakt", "email": "kari@politiet.no"}
    doc = notice("threat", contact=contact)
    record = _school_record(ready, doc)
    text = render(Letter(record, NOTICE.validate_python(doc), "x"), NB, date(2026, 12, 2))
    assert "Kontakt Kari Nordmann (politikontakt), e-post kari@politiet.no." in text
    assert "telefon" not in text


def test_every_field_a_shipped_rule_releases_has_a_norwegian_label(policy: PolicySet) -> None:
    """A released field without a label would be named by its path in a letter to parents."""
    unlabelled = {
        path
        for rule in policy.rules
        for path in rule.fields
        if rule.fields[path].name != "drop" and field_label(path, "nb") == path
    }
    assert unlabelled == set()
