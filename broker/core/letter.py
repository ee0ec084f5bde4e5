"""The letter to the guardians (politiregisterloven § 48): what the police shared about their
child, with whom, when, and under which law, in Norwegian bokmål (Markdown).

It is written from two things: the audit record of the disclosure (what was released, to
which organisation, when, under which basis; no values) and the notice itself (the child's and
the guardians' names, which only the police hold). The national identity number never appears:
a released one is named as a field, never shown. Pure: the caller reads the files, looks the
organisation's name up in the directory, and passes the time zone (Oslo) and today's date.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from string import Template

from broker.core.errors import BrokerError
from broker.core.notice_parts import ContactPerson
from broker.core.notices import ConcernFeedback, Notice
from broker.core.records import AuditEvent, AuditRecord, Outcome

MONTHS = (
    "januar",
    "februar",
    "mars",
    "april",
    "mai",
    "juni",
    "juli",
    "august",
    "september",
    "oktober",
    "november",
    "desember",
)
_ORDINALS = {
    "first": "første",
    "second": "andre",
    "third": "tredje",
    "fourth": "fjerde",
    "fifth": "femte",
    "sixth": "sjette",
    "seventh": "sjuende",
    "eighth": "åttende",
    "paragraph": "ledd",
    "letter": "bokstav",
}
# What the shipped rules release, as the guardians would say it (paths without list indices;
# the longest listed prefix of a released path names it)
LABELS = {
    "notice_id": "meldingens referansenummer",
    "notice_type": "hva slags melding det var",
    "issued_at": "når meldingen ble sendt",
    "issuer": "hvilken enhet som sendte meldingen",
    "contact": "navn og kontaktinformasjon til kontaktpersonen hos avsenderen",
    "controller_decision": "hvem som besluttet å dele opplysningene, og når",
    "confidentiality_imposed": "at politiet har pålagt mottakeren taushetsplikt",
    "imminent_offence": "om politiet har opplysninger om en straffbar handling som kan skje snart",
    "purpose": "formålet med meldingen",
    "necessity": "avsenderens vurdering av hvorfor det var nødvendig å dele",
    "consent": "samtykket som ble gitt",
    "danger_to_life_or_health": "om det var fare for liv eller helse",
    "child": "opplysninger om barnet",
    "child.name": "barnets navn",
    "child.national_id": "barnets fødselsnummer",
    "child.birth_date": "barnets fødselsdato",
    "child.address": "barnets adresse",
    "child.district": "bydelen barnet bor i",
    "child.previous_district": "bydelen barnet har flyttet fra",
    "child.school": "barnets skole",
    "guardians": "opplysninger om dere som foresatte",
    "guardians.name": "navnet til de foresatte",
    "guardians.relation": "de foresattes forhold til barnet",
    "guardians.phone": "telefonnummeret til de foresatte",
    "guardians.address": "adressen til de foresatte",
    "incident.occurred_at": "når hendelsen skjedde",
    "incident.location": "hvor hendelsen skjedde",
    "incident.category": "hva slags hendelse det var",
    "incident.child_role": "barnets rolle i saken (mistenkt, fornærmet eller vitne)",
    "incident.summary": "en beskrivelse av hendelsen",
    "incident.co_involved": "andre som var involvert",
    "incident.investigation_opened": "når politiet åpnet etterforskning",
    "risk": "politiets risikovurdering",
    "risk.level": "hvor høy risikoen er vurdert",
    "risk.at_risk": "hvem som er utsatt for risiko",
    "risk.indicators": "hva risikovurderingen bygger på",
    "risk.summary": "politiets risikovurdering",
    "risk.recommended_measures": "tiltak politiet anbefaler",
    "risk.measures_for": "hvilke tjenester tiltakene gjelder",
    "risk.threatened": "hvem som er truet, og av hvem",
    "risk.family_risk": "hva risikoen for familien er",
    "risk.co_involved": "andre som er involvert",
    "risk.valid_until": "hvor lenge risikovurderingen gjelder",
    "concern": "skolens bekymring",
    "concern.observed_at": "når skolen gjorde sine observasjoner",
    "concern.categories": "hva bekymringen gjelder",
    "concern.description": "skolens beskrivelse av bekymringen",
    "concern.actions_taken": "hva skolen har gjort",
    "concern.guardians_informed": "om dere er orientert",
    "concern.duty_grounds": "hvilke vilkår for skolens meldeplikt skolen mener er oppfylt",
    "concern_ref": "hvilken bekymringsmelding svaret gjelder",
    "status": "hvor langt barnevernet er kommet med saken",
    "status_since": "fra når",
}
_TRANSFORMED = {
    "mask": "delvis skjult",
    "generalise": "bare i grove trekk",
    "pseudonymise": "under et kallenavn, ikke navnet",
}

LETTER = Template("""\
# Opplysninger om $child er gitt videre

Oslo, $today

Til $guardians

$issuer ga $disclosed_on opplysninger om $child, født $born, til $organisation.
Vi skriver for å fortelle dere om det, slik loven krever.

## Hva som ble gitt videre

$fields

## Hvorfor opplysningene kunne gis videre

Opplysningene ble gitt med hjemmel i $law. Politiet skal informere barnet og de foresatte
når opplysninger om barnet er gitt videre (politiregisterloven § 48).

## Spørsmål

Dere kan be om å få vite hvilke opplysninger politiet har om barnet, og be om at feil blir
rettet. Kontakt $contact.

Med vennlig hilsen
$issuer

Referanse: $record_id
""")


class LetterError(BrokerError):
    """The record and the notice do not make a letter (the message says which and why)."""

    code = "letter-invalid"


@dataclass(frozen=True)
class Letter:
    record: AuditRecord
    notice: Notice
    organisation: str  # the receiving organisation's name, as the directory gives it


def norwegian_date(day: date) -> str:
    """'1. desember 2026', as Norwegians write a date."""
    return f"{day.day}. {MONTHS[day.month - 1]} {day.year}"


def _names(names: list[str]) -> str:
    """'A', 'A og B', 'A, B og C'."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} og {names[-1]}"


def citation_nb(citation: str) -> str:
    """'§ 27 first paragraph letter m' as '§ 27 første ledd bokstav m'."""
    return " ".join(_ORDINALS.get(word, word) for word in citation.split(" "))


def label(path: str) -> str:
    parts = path.replace("[]", "").split(".")
    for n in range(len(parts), 0, -1):
        label = LABELS.get(".".join(parts[:n]))
        if label is not None:
            return label
    return path  # a field the table does not name yet: its path, still no value


def field_lines(kept: Iterable[str], transformed: dict[str, str]) -> list[str]:
    """One line per field released, as readable words (each once, in the record's order)."""
    lines: list[str] = []
    for path in kept:
        words = label(path)
        op = transformed.get(path, "").split("(")[0]
        line = f"{words} ({_TRANSFORMED[op]})" if op in _TRANSFORMED else words
        if line not in lines:
            lines.append(line)
    return lines


def render(letter: Letter, tz: tzinfo, today: date) -> str:
    """The letter in Markdown, dates in ``tz`` (Europe/Oslo)."""
    record, notice = letter.record, letter.notice
    if record.event is not AuditEvent.decision or record.outcome is not Outcome.deliver:
        raise LetterError(f"--record: record {record.record_id} is not a delivery")
    if str(notice.notice_id) != record.notice_id:
        raise LetterError(f"--notice: the notice is not the one record {record.record_id} decided")
    if isinstance(notice, ConcernFeedback):
        raise LetterError("--notice: a concern feedback names no guardians")
    if not notice.guardians:
        raise LetterError("--notice: the notice names no guardians to write to")
    basis = record.legal_basis
    assert basis is not None  # every delivery cites its basis
    statute = basis.statute.split(" (")[0]
    law = f"{statute[:1].lower()}{statute[1:]} {citation_nb(basis.citation)}"
    contact = notice.contact
    return LETTER.substitute(
        child=notice.child.name,
        today=norwegian_date(today),
        guardians=_names([g.name for g in notice.guardians]),
        issuer=notice.issuer.unit_name,
        disclosed_on=norwegian_date(_local(record.recorded_at, tz)),
        born=norwegian_date(notice.child.birth_date),
        organisation=letter.organisation,
        fields="\n".join(
            f"- {line}" for line in field_lines(record.fields_kept, record.fields_transformed)
        ),
        law=law,
        contact=_reach(contact),
        record_id=record.record_id,
    )


def _reach(contact: ContactPerson) -> str:
    """'Navn (rolle), telefon …, e-post …': a contact may have a phone, an e-mail, both or
    neither (then the unit's switchboard is the way)."""
    ways = [f"telefon {contact.phone}"] if contact.phone else []
    ways += [f"e-post {contact.email}"] if contact.email else []
    return ", ".join([f"{contact.name} ({contact.role})", *ways])


def _local(when: datetime, tz: tzinfo) -> date:
    return when.astimezone(tz).date()
