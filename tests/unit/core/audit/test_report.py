"""The data-subject access report: disclosures only, once each, in time order, no values."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from broker.adapters.locale import load_translator
from broker.core.audit.report import subject_report, to_html, to_markdown
from broker.core.names import Names

NB = load_translator("nb")
EN = load_translator("en")

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
BASIS = {
    "id": "bvl-13-2",
    "statute": "Barnevernsloven",
    "citation": "§ 13-2 first paragraph",
    "status": "confirmed",
    "source": "https://lovdata.no/dokument/NL/lov/2021-06-18-97",
}


def _record(rid: str, when: str, **over: Any) -> dict[str, Any]:
    r = {
        "record_id": rid,
        "event": "decision",
        "recorded_at": when,
        "recipient": "child-welfare",
        "outcome": "deliver",
        "notice_type": "incident",
        "notice_id": "3f2a0b1c-0000-4000-8000-000000000001",
        "rule_id": "r1",
        "legal_basis": BASIS,
        "fields_kept": ["child.name", "incident.summary"],
        "fields_withheld": ["intelligence"],
    }
    r.update(over)
    return r


def test_only_deliveries_are_disclosures_and_the_rest_is_counted() -> None:
    """Denials and dead letters are counted, not listed as disclosures."""
    report = subject_report(
        [
            _record("b", "2026-11-26T10:00:00Z"),
            _record("a", "2026-11-25T10:00:00Z", recipient="school"),
            _record("c", "2026-11-26T11:00:00Z", outcome="deny", legal_basis=None),
            {"record_id": "d", "event": "dead-letter"},
            _record("b", "2026-11-26T10:00:00Z"),  # a repeat (at-least-once)
        ],
        NOW,
    )
    assert [(d.record_id, d.recipient) for d in report.disclosures] == [
        ("a", "school"),
        ("b", "child-welfare"),
    ]
    assert (report.not_shared, report.rejected_inputs) == (1, 1)


def test_markdown_html_and_json_name_recipient_law_and_fields() -> None:
    """Every format says when, to whom, under which law, and which fields."""
    report = subject_report([_record("a", "2026-11-25T10:00:00Z", review_required=True)], NOW)
    md = to_markdown(report, EN)
    assert "| 25 November 2026, 11:00 | child-welfare |" in md  # 10:00 UTC is 11:00 in Oslo
    assert (
        "Barnevernsloven § 13-2 first paragraph (bvl-13-2, confirmed) (urgent, reviewed afterwards)"
        in md
    )
    assert "child's name (`child.name`), account of the incident (`incident.summary`)" in md
    page = to_html(report, EN)
    assert "<td>child-welfare</td>" in page
    assert "<strong>urgent, reviewed afterwards</strong>" in page
    data = json.loads(report.to_json())
    assert data["disclosures"][0]["fields"] == ["child.name", "incident.summary"]
    assert data["disclosures"][0]["withheld"] == ["intelligence"]


def test_html_escapes_what_it_shows() -> None:
    """A recipient id with markup cannot inject into the report page."""
    report = subject_report([_record("a", "t", recipient="<script>x</script>")], NOW)
    page = to_html(report, NB)
    assert "<script>" not in page
    assert "&lt;script&gt;" in page


def test_the_report_reads_in_bokmal_by_default() -> None:
    """Oslo time as Norwegians write it, the law in Norwegian, fields by their labels with the
    path beside them, the counts as sentences."""
    report = subject_report(
        [
            _record("a", "2026-12-01T13:05:00Z", review_required=True),
            {"record_id": "d", "event": "dead-letter"},
        ],
        NOW,
    )
    md = to_markdown(report, NB)
    assert md.startswith("# Utleveringer om deg\n")
    assert "Laget 26. november 2026 kl. 13.00 fra delingstjenestens revisjonslogg." in md
    assert "1 utlevering; 0 beslutninger om ikke å dele; 1 avvist melding." in md
    assert "| 1. desember 2026 kl. 14.05 | child-welfare | hendelsesmelding 3f2a0b1c |" in md
    assert (
        "Barnevernsloven § 13-2 første ledd (bvl-13-2, bekreftet) "
        "(haster, kontrolleres i etterkant)" in md
    )
    assert "barnets navn (`child.name`)" in md
    page = to_html(report, NB)
    assert '<html lang="nb">' in page
    assert '<span title="child.name">barnets navn</span>' in page


def test_the_report_names_the_organisation_and_its_role() -> None:
    """To whom, as the person reads it: the organisation by name and the role it filled, in
    the reader's language; without the names (or for an unknown id), the codes."""
    names = Names(
        recipients={"child-welfare": {"nb": "barneverntjenesten i bydelen", "en": "district CWS"}},
        organisations={"bydel-alna-barnevern": "Bydel Alna, barneverntjenesten"},
    )
    record = _record("a", "2026-11-25T10:00:00Z", organisation="bydel-alna-barnevern")
    report = subject_report([record], NOW)
    assert report.disclosures[0].organisation == "bydel-alna-barnevern"
    md = to_markdown(report, NB, names)
    assert "| Bydel Alna, barneverntjenesten (barneverntjenesten i bydelen) |" in md
    assert "<td>Bydel Alna, barneverntjenesten (district CWS)</td>" in to_html(report, EN, names)
    assert "| bydel-alna-barnevern (child-welfare) |" in to_markdown(report, NB)
    assert json.loads(report.to_json())["disclosures"][0]["organisation"] == (
        "bydel-alna-barnevern"
    )


def test_the_report_says_why_where_it_has_the_policies_the_record_was_decided_by() -> None:
    names = Names(
        purposes={"r1": {"nb": "Akutt oppfølging.", "en": "Acute follow-up."}}, version="v1"
    )
    now = subject_report([_record("a", "2026-11-25T10:00:00Z", policy_version="v1")], NOW)
    assert "; formål: Akutt oppfølging. |" in to_markdown(now, NB, names)
    assert "<br><small>purpose: Acute follow-up.</small>" in to_html(now, EN, names)
    older = subject_report([_record("a", "2026-11-25T10:00:00Z", policy_version="v0")], NOW)
    assert "formål" not in to_markdown(older, NB, names)
