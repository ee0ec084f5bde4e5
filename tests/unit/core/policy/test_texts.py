"""The policies' own texts, written in both languages (issue #16): a text people read is
{nb, en}; a plain string or a missing language is refused naming the file, the entry, the field
and what is missing; the report shows the reader's language; records keep the English."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from broker.adapters.locale import load_translator
from broker.adapters.retention_files import load_retention
from broker.core.errors import PolicyError
from broker.core.policy.load import parse_policy
from broker.core.policy.model import ImposedConfidentiality, PolicySet, PolicyText, Recipient
from broker.core.policy.report import markdown
from broker.core.retention import parse_retention
from tests.unit.core.policy.test_load import POLICIES, SHIPPED

NB, EN = load_translator("nb"), load_translator("en")
BOTH = "write the text in both languages: {nb: …, en: …}"
# texts that are only proper names or citations, the same in both languages
SAME_IN_BOTH = {"Barnevernsloven § 2-1"}

SCHOOL_NAME = """    name:
      nb: Elevens skole (rektor)
      en: The pupil's school (principal)
"""
FIRST_PURPOSE = """    purpose:
      nb: Politiets plikt til straks å varsle barneverntjenesten når det innledes etterforskning mot et barn under 18 år.
      en: The police's duty to notify child welfare at once of an investigation opened against a child under 18.
"""  # noqa: E501 (as the file holds it)
PRL_23_SUMMARY_EN = (
    "      en: Police duty of confidentiality (personal matters; investigative, intelligence and "
    "operational information); the exceptions in §§ 24–34 apply so far as they fit.\n"
)


def _edited(name: str, old: str, new: str) -> dict[str, bytes]:
    text = SHIPPED[name].decode("utf-8")
    assert text.count(old) == 1, old
    return {**SHIPPED, name: text.replace(old, new).encode("utf-8")}


def _problems(files: dict[str, bytes], where: str) -> list[str]:
    with pytest.raises(PolicyError) as exc:
        parse_policy(files, "")
    assert exc.value.file == where
    return exc.value.problems


# --- the model -------------------------------------------------------------------------------


def test_a_text_in_the_readers_language_and_english_for_records() -> None:
    text = PolicyText(nb="Elevens skole", en="The pupil's school")
    assert text.of("nb") == "Elevens skole"
    assert text.of("en") == "The pupil's school"
    assert text.of("se") == "The pupil's school"  # any other language: the English
    assert str(text) == f"{text}" == "The pupil's school"  # the stable form records carry


def test_each_language_keeps_the_fields_constraints() -> None:
    """A summary is one line of at most 300 characters, in bokmål as in English; the imposed
    confidentiality text at most 600 in each."""
    for lang, bad in (("nb", "two\nlines"), ("en", "x" * 301), ("nb", "")):
        summary = {"nb": "ok", "en": "ok", lang: bad}
        problems = _problems(_bad_summary(summary), "legal-bases.yaml")
        assert len(problems) == 1, problems
        assert problems[0].startswith(f"prl-23: summary.{lang}: "), problems
    assert parse_policy(_bad_summary({"nb": "ok", "en": "ok"}), "").legal_bases["prl-23"].summary
    with pytest.raises(ValueError, match="at most 600"):
        ImposedConfidentiality.model_validate(
            {"legal_basis": "prl-35-2", "text": {"nb": "x" * 601, "en": "x"}}
        )


def _bad_summary(summary: dict[str, str] | str) -> dict[str, bytes]:
    """The shipped legal bases with prl-23's summary replaced (JSON is YAML)."""
    text = SHIPPED["legal-bases.yaml"].decode("utf-8")
    start = text.index("    summary:\n", text.index("  - id: prl-23\n"))
    end = text.index(PRL_23_SUMMARY_EN, start) + len(PRL_23_SUMMARY_EN)
    new = f"    summary: {json.dumps(summary, ensure_ascii=False)}\n"
    return {**SHIPPED, "legal-bases.yaml": (text[:start] + new + text[end:]).encode("utf-8")}


# --- loading ---------------------------------------------------------------------------------


def test_a_plain_string_name_is_refused_naming_file_entry_field_and_both_languages() -> None:
    files = _edited("recipients.yaml", SCHOOL_NAME, "    name: The pupil's school\n")
    with pytest.raises(PolicyError) as exc:
        parse_policy(files, "")
    assert exc.value.problems == [f"school: name: {BOTH}"]
    assert str(exc.value) == f"recipients.yaml: school: name: {BOTH}"


def test_a_plain_string_purpose_is_refused() -> None:
    files = _edited("rules.yaml", FIRST_PURPOSE, "    purpose: The police's duty to notify.\n")
    problems = _problems(files, "rules.yaml")
    assert problems == [f"incident-child-welfare-investigation: purpose: {BOTH}"]


def test_a_plain_string_summary_is_refused() -> None:
    problems = _problems(_bad_summary("Police duty of confidentiality."), "legal-bases.yaml")
    assert problems == [f"prl-23: summary: {BOTH}"]


@pytest.mark.parametrize(
    ("given", "missing"),
    [("{nb: Elevens skole}", "en"), ("{en: The pupil's school}", "nb"), ("{}", "nb and en")],
)
def test_a_missing_language_is_named(given: str, missing: str) -> None:
    files = _edited("recipients.yaml", SCHOOL_NAME, f"    name: {given}\n")
    problems = _problems(files, "recipients.yaml")
    assert problems == [f"school: name: {BOTH}; {missing} is missing"]


def test_both_languages_load_and_a_third_is_refused() -> None:
    files = _edited("recipients.yaml", SCHOOL_NAME, "    name: {nb: Skolen, en: The school}\n")
    assert parse_policy(files, "").recipients["school"].name.of("nb") == "Skolen"
    files = _edited(
        "recipients.yaml", SCHOOL_NAME, "    name: {nb: Skolen, en: The school, nn: Skulen}\n"
    )
    assert _problems(files, "recipients.yaml") == [
        "school: name.nn: Extra inputs are not permitted"
    ]


def test_an_optional_text_given_needs_both_languages() -> None:
    old = (
        "    description:\n"
        "      nb: Akutte saker, også utenom kontortid.\n"
        "      en: Acute cases, outside office hours included.\n"
    )
    problems = _problems(
        _edited("recipients.yaml", old, "    description: Acute cases.\n"), "recipients.yaml"
    )
    assert problems == [f"barnevernvakta: description: {BOTH}"]
    policy = parse_policy(_edited("recipients.yaml", old, ""), "")
    assert policy.recipients["barnevernvakta"].description is None


# --- the shipped texts -----------------------------------------------------------------------


def _texts(value: Any, where: str) -> Iterator[tuple[str, PolicyText]]:
    """Every PolicyText in a model, with where it is."""
    if isinstance(value, PolicyText):
        yield where, value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _texts(getattr(value, name), f"{where}.{name}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _texts(item, f"{where}[{i}]")


def _shipped_texts(policy: PolicySet) -> list[tuple[str, PolicyText]]:
    entries: list[tuple[str, Any]] = [
        *((f"legal-bases {b.id}", b) for b in policy.legal_bases.values()),
        *((f"recipients {r.id}", r) for r in policy.recipients.values()),
        *((f"rules {r.id}", r) for r in policy.rules),
        *((f"open-questions {q.id}", q) for q in policy.open_questions),
        *((f"invariants {i.id}", i) for i in policy.invariants),
        *((f"duties {d.id}", d) for d in policy.duties),
        ("imposed_confidentiality rules.yaml", policy.imposed_confidentiality),
    ]
    return [found for where, entry in entries for found in _texts(entry, where)]


def test_every_shipped_text_is_written_in_both_languages(policy: PolicySet) -> None:
    """Both languages, and different: the English pasted into nb is a mistake (proper names
    and citations aside)."""
    texts = _shipped_texts(policy)
    # every rule's purpose, recipient's name and description, basis' summary, invariant,
    # question, duty's statute and summary, and then some
    assert len(texts) >= 2 * len(policy.rules) + len(policy.legal_bases) + len(policy.invariants)
    same = [(where, t.en) for where, t in texts if t.nb == t.en and t.en not in SAME_IN_BOTH]
    assert not same, same
    assert all(t.nb.strip() and t.en.strip() for _, t in texts)


def test_every_retention_reason_is_written_in_both_languages() -> None:
    reasons = [r.reason for r in load_retention(POLICIES).rules.values()]
    assert reasons
    assert all(r.nb != r.en for r in reasons)
    text = (POLICIES / "retention.yaml").read_text(encoding="utf-8")
    start = text.index("    reason:\n")
    plain = text[:start] + "    reason: Long enough.\n" + text[text.index("    status:", start) :]
    with pytest.raises(PolicyError) as exc:
        parse_retention(plain, "retention.yaml")
    assert exc.value.problems[0] == f"incident: reason: {BOTH}"


def test_every_reader_facing_field_of_the_shipped_set_is_a_policy_text(policy: PolicySet) -> None:
    kinds = {
        where.split(" ")[0] + ":" + where.rsplit(".", 1)[-1] for where, _ in _shipped_texts(policy)
    }
    for kind in (
        "recipients:name",
        "recipients:description",
        "rules:purpose",
        "legal-bases:summary",
        "legal-bases:conditions",
        "open-questions:question",
        "invariants:statement",
        "duties:statute",
        "duties:summary",
        "duties:deadline_note",
        "imposed_confidentiality:text",
    ):
        assert kind in kinds, kind


def test_the_copy_carries_the_imposed_text_as_it_always_has(policy: PolicySet) -> None:
    """Split into {nb, en} in the file, joined as before in the copy, byte for byte."""
    imposed = policy.imposed_confidentiality
    assert imposed is not None
    assert imposed.copy_text == (
        "Politiet har pålagt taushetsplikt om opplysningene i denne meldingen "
        "(politiregisterloven § 35 annet ledd). The police have imposed a duty of "
        "confidentiality on this information."
    )


def test_the_agency_stays_a_proper_name(policy: PolicySet) -> None:
    assert Recipient.model_fields["agency"].annotation is str
    assert policy.recipients["school"].agency == "Utdanningsetaten, Oslo kommune"


# --- the report ------------------------------------------------------------------------------


def test_the_report_shows_each_text_in_the_readers_language(policy: PolicySet) -> None:
    nb, en = markdown(policy, NB), markdown(policy, EN)
    for rule in policy.rules:
        assert f"| formål | {rule.purpose.nb} |" in nb, rule.id
        assert f"| purpose | {rule.purpose.en} |" in en, rule.id
        assert rule.purpose.en not in nb, rule.id
        assert rule.purpose.nb not in en, rule.id
    for basis in policy.legal_bases.values():
        assert basis.summary.nb in nb, basis.id
        assert basis.summary.en in en, basis.id
        assert basis.summary.en not in nb, basis.id
        assert basis.summary.nb not in en, basis.id
    for text in (
        *(i.statement for i in policy.invariants),
        *(q.question for q in policy.open_questions),
        *(d.summary for d in policy.duties),
    ):
        assert text.nb in nb, text.en
        assert text.en in en, text.en
        assert text.en not in nb, text.en
    school = policy.recipients["school"]
    assert f"## {school.name.nb} (school)" in nb
    assert f"## {school.name.en} (school)" in en
