"""The letter to the guardians (politiregisterloven § 48): what the police shared about their
child, with whom, when, and under which law, in Norwegian bokmål or English (Markdown).

It is written from two things: the audit record of the disclosure (what was released, to
which organisation, when, under which basis; no values) and the notice itself (the child's and
the guardians' names, which only the police hold). The national identity number never appears:
a released one is named as a field, never shown. The fields are named by their labels in the
notice schema (broker.core.labels), the words come from the message catalogue. Pure: the caller
reads the files, looks the organisation's name up in the directory, and passes the translator
(with the Oslo time zone) and today's date.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from broker.core.citations import citation, statute_name
from broker.core.errors import BrokerError
from broker.core.i18n import N_, Translator
from broker.core.labels import field_label
from broker.core.notice_parts import ContactPerson
from broker.core.notices import ConcernFeedback, Notice
from broker.core.records import AuditEvent, AuditRecord, Outcome

_TRANSFORMED = {
    "mask": N_("partly hidden"),
    "generalise": N_("only in broad terms"),
    "pseudonymise": N_("under a pseudonym, not the name"),
}


class LetterError(BrokerError):
    """The record and the notice do not make a letter (the message says which and why)."""

    code = "letter-invalid"


@dataclass(frozen=True)
class Letter:
    record: AuditRecord
    notice: Notice
    organisation: str  # the receiving organisation's name, as the directory gives it


def field_lines(kept: Iterable[str], transformed: dict[str, str], t: Translator) -> list[str]:
    """One line per field released, by its label (each once, in the record's order)."""
    lines: list[str] = []
    for path in kept:
        words = field_label(path, t.lang)
        op = transformed.get(path, "").split("(")[0]
        if op in _TRANSFORMED:
            words = t.gettext("%(field)s (%(how)s)", field=words, how=t.gettext(_TRANSFORMED[op]))
        if words not in lines:
            lines.append(words)
    return lines


def render(letter: Letter, t: Translator, today: date) -> str:
    """The letter in Markdown, in ``t``'s language, dates in its zone (Europe/Oslo)."""
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
    statute = statute_name(basis.statute)
    # mid-sentence an act is written in lower case in bokmål ("etter politiregisterloven")
    statute = f"{statute[:1].lower()}{statute[1:]}" if t.lang == "nb" else statute
    fields = field_lines(record.fields_kept, record.fields_transformed, t)
    parts = [
        t.gettext("# Information about %(child)s has been shared", child=notice.child.name),
        t.gettext("Oslo, %(today)s", today=t.day(today)),
        t.gettext("To %(guardians)s", guardians=t.join(g.name for g in notice.guardians)),
        t.gettext(
            "On %(disclosed_on)s %(issuer)s shared information about %(child)s, born "
            "%(born)s, with %(organisation)s.\nWe are writing to tell you, as the law requires.",
            issuer=notice.issuer.unit_name,
            disclosed_on=t.day(record.recorded_at.astimezone(t.zone).date()),
            child=notice.child.name,
            born=t.day(notice.child.birth_date),
            organisation=letter.organisation,
        ),
        t.gettext("## What was shared"),
        "\n".join(f"- {line}" for line in fields),
        t.gettext("## Why the information could be shared"),
        t.gettext(
            "The information was shared under %(law)s. The police must inform the child and "
            "the guardians\nwhen information about the child has been shared "
            "(politiregisterloven § 48).",
            law=f"{statute} {citation(basis.citation, t)}",
        ),
        t.gettext("## Questions"),
        t.gettext(
            "You may ask which information the police hold about the child, and ask for "
            "errors to be\ncorrected. Contact %(contact)s.",
            contact=_reach(notice.contact, t),
        ),
        t.gettext("Yours sincerely,\n%(issuer)s", issuer=notice.issuer.unit_name),
        t.gettext("Reference: %(record_id)s", record_id=record.record_id),
    ]
    return "\n\n".join(parts) + "\n"


def _reach(contact: ContactPerson, t: Translator) -> str:
    """'Navn (rolle), telefon …, e-post …': a contact may have a phone, an e-mail, both or
    neither (then the unit's switchboard is the way)."""
    ways = [t.gettext("phone %(phone)s", phone=contact.phone)] if contact.phone else []
    ways += [t.gettext("e-mail %(email)s", email=contact.email)] if contact.email else []
    who = t.gettext("%(name)s (%(role)s)", name=contact.name, role=contact.role)
    return ", ".join([who, *ways])
