"""Legal bases as people cite them: "Politiregisterloven § 27 første ledd bokstav m" in bokmål,
"Politiregisterloven § 27 first paragraph letter m" in English.

Audit records and deliveries carry the citation in one stable form (``LegalBasis.citation``,
English words); this says it in the reader's language. Statute names are Norwegian names of
Norwegian acts and stay as they are in both languages.
"""

from __future__ import annotations

import re

from broker.core.i18n import N_, Translator

_PARAGRAPHS = {
    "first": N_("first paragraph"),
    "second": N_("second paragraph"),
    "third": N_("third paragraph"),
    "fourth": N_("fourth paragraph"),
    "fifth": N_("fifth paragraph"),
    "sixth": N_("sixth paragraph"),
    "seventh": N_("seventh paragraph"),
    "eighth": N_("eighth paragraph"),
}
_CITATION = re.compile(
    r"^(?P<section>(?:§§? |art\. )\S+)"
    rf"(?: (?P<ordinal>{'|'.join(_PARAGRAPHS)}) paragraph)?"
    r"(?: nr\. (?P<number>\d+))?"
    r"(?: letter (?P<letter>\S+))?$"
)


def citation(text: str, t: Translator) -> str:
    """'§ 27 first paragraph nr. 1 letter m' in the reader's language; a citation in any
    other form is shown as written."""
    m = _CITATION.match(text)
    if m is None:
        return text
    section, ordinal, number, letter = m.group("section", "ordinal", "number", "letter")
    parts = [section]
    if ordinal:
        parts.append(t.gettext(_PARAGRAPHS[ordinal]))
    if number:
        parts.append(t.gettext("nr. %(number)s", number=number))
    if letter:
        parts.append(t.gettext("letter %(letter)s", letter=letter))
    return " ".join(parts)


def statute_name(statute: str) -> str:
    """'Politiregisterloven (LOV-2010-05-28-16)' as 'Politiregisterloven'."""
    return re.sub(r" \((?:LOV|FOR)-[0-9-]+\)$", "", statute)


def law(statute: str, cited: str, t: Translator) -> str:
    """'Politiregisterloven § 27 første ledd': the statute's name and the citation."""
    return t.gettext(
        "%(statute)s %(citation)s", statute=statute_name(statute), citation=citation(cited, t)
    )
