"""`broker subscribe` shows a delivery for a person to read: an imposed duty of
confidentiality first and prominently, a copy without one as before."""

from __future__ import annotations

from typing import Any

import pytest

from broker.adapters.locale import load_translator
from broker.cli import subscribe

NB = load_translator("nb")
EN = load_translator("en")

BASIS = {
    "id": "prl-27-2-1",
    "statute": "Politiregisterloven (LOV-2010-05-28-16)",
    "citation": "§ 27 second paragraph nr. 1",
    "status": "confirmed",
    "source": "https://lovdata.no/dokument/NL/lov/2010-05-28-16",
}
DUTY = {
    "basis": {**BASIS, "id": "prl-35-2", "citation": "§ 35 second paragraph"},
    "text": "Politiet har pålagt taushetsplikt. Share it only with those who protect the teacher.",
}


def _delivery(**extra: Any) -> dict[str, Any]:
    return {
        "delivery_id": "d" * 64,
        "notice_type": "risk",
        "recipient": "school",
        "rule_id": "risk-school-staff-threat",
        "legal_basis": BASIS,
        "purpose": "Protect the teacher.",
        "purpose_nb": "Beskytte læreren.",
        "policy_version": "sha256:x",
        "fields_withheld": ["child.national_id"],
        "notice": {"contact": {"name": "Lise Moe", "role": "etterforsker"}},
        **extra,
    }


def test_an_imposed_duty_is_shown_before_the_copy(capsys: pytest.CaptureFixture[str]) -> None:
    subscribe._print(_delivery(confidentiality=DUTY), EN)
    text = " ".join(capsys.readouterr().out.replace("│", " ").split())  # the panel's border
    assert "CONFIDENTIALITY IMPOSED" in text
    assert "Share it only with those who protect the teacher." in text
    assert "§ 35 second paragraph" in text
    assert text.index("CONFIDENTIALITY IMPOSED") < text.index("rule risk-school-staff-threat")


def test_no_duty_no_banner_and_a_contact_without_a_phone_prints(
    capsys: pytest.CaptureFixture[str],
) -> None:
    subscribe._print(_delivery(), EN)
    text = capsys.readouterr().out
    assert "CONFIDENTIALITY" not in text
    assert "Lise Moe" in text


def test_a_delivery_reads_in_bokmal(capsys: pytest.CaptureFixture[str]) -> None:
    """The rule and the law in bokmål, withheld fields by their labels with the path."""
    subscribe._print(_delivery(confidentiality=DUTY), NB)
    text = " ".join(capsys.readouterr().out.replace("│", " ").split())
    assert "TAUSHETSPLIKT PÅLAGT" in text
    assert "Politiregisterloven § 35 andre ledd" in text
    assert "regel risk-school-staff-threat etter Politiregisterloven § 27 andre ledd nr. 1" in text
    assert "risikomelding" in text
    assert "holdt tilbake: barnets fødselsnummer (child.national_id)" in text
    assert "formål: Beskytte læreren." in text


def test_the_purpose_is_in_the_readers_language_or_as_the_copy_has_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    subscribe._print(_delivery(), EN)
    assert "purpose: Protect the teacher." in capsys.readouterr().out
    older = _delivery()
    del older["purpose_nb"]  # sealed before the policies' texts were in bokmål
    subscribe._print(older, NB)
    assert "formål: Protect the teacher." in capsys.readouterr().out
