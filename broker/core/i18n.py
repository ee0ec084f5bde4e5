"""Words, dates, numbers and order for people: bokmål by default, English as an option.

Everything a person reads goes through a ``Translator``: whole sentences from a gettext message
catalogue (msgids are English, placeholders are named: ``%(name)s``), dates in Oslo time as
Norwegians write them (``1. desember 2026 kl. 14.05``), numbers with Babel, lists as
``A, B og C``. Machine outputs (JSON, audit records, error codes, logs) never do.

Pure: the shell reads the catalogues (broker.adapters.locale) and the time zone and passes them
in; the time to show is always given, never read here.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo

from babel.dates import format_date, format_datetime, format_time
from babel.lists import format_list
from babel.numbers import format_decimal

from broker.core.errors import BrokerError

DEFAULT_LANGUAGE = "nb"
LANGUAGES = ("nb", "en")
LANGUAGE_NAMES = {"nb": "Norsk bokmål", "en": "English"}
# CLDR patterns; Babel's locale data gives the month names
_DATETIME = {"nb": "d. MMMM y 'kl.' HH.mm", "en": "d MMMM y, HH:mm"}
_DATE = {"nb": "d. MMMM y", "en": "d MMMM y"}
_CLOCK = {"nb": "HH.mm.ss", "en": "HH:mm:ss"}
# Norwegian order: æ, ø, å after z (and ä, ö, as Norwegians file them, with æ and ø)
_AFTER_Z = str.maketrans({"æ": "{", "ä": "{", "ø": "|", "ö": "|", "å": "}"})


class LanguageError(BrokerError):
    """A language the catalogues do not have (the message names the choices)."""

    code = "language-unknown"


def language(code: str) -> str:
    """``code`` if it is one of LANGUAGES ('nb', 'en'; 'no' and 'nb-NO' read as 'nb')."""
    norm = code.strip().lower().replace("_", "-")
    norm = "nb" if norm in ("no", "nb-no", "no-nb") else norm.removesuffix("-gb")
    if norm not in LANGUAGES:
        raise LanguageError(f"'{code}' is not a language of the catalogues: {', '.join(LANGUAGES)}")
    return norm


@dataclass(frozen=True)
class Catalogue:
    """One language's messages: msgid -> text; a plural's singular msgid -> (one, other).
    A message missing here reads as its English msgid."""

    messages: Mapping[str, str] = field(default_factory=dict)
    plurals: Mapping[str, tuple[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Translator:
    lang: str
    catalogue: Catalogue
    zone: tzinfo  # dates on screen are in this zone (Europe/Oslo); records stay in UTC

    def gettext(self, message: str, **params: object) -> str:
        """The sentence in this language, its ``%(name)s`` placeholders filled."""
        text = self.catalogue.messages.get(message) or message
        return text % params if params else text

    def ngettext(self, singular: str, plural: str, count: int, **params: object) -> str:
        """One of two forms by ``count`` (bokmål and English both: one, other); ``%(n)s`` is
        the count written as a number in this language (unless ``n`` is given)."""
        one, other = self.catalogue.plurals.get(singular) or (singular, plural)
        return (one if count == 1 else other) % {"n": self.number(count), **params}

    def _local(self, moment: datetime) -> datetime:
        """``moment`` in the zone shown on screen; a naive time is refused."""
        if moment.tzinfo is None:
            raise ValueError("time must carry a time zone")
        return moment.astimezone(self.zone)

    def when(self, moment: datetime) -> str:
        """'1. desember 2026 kl. 14.05' (Oslo time)."""
        return format_datetime(self._local(moment), _DATETIME[self.lang], locale=self.lang)

    def clock(self, moment: datetime) -> str:
        """The time of day in Oslo time, to the second: '14.05.09' / '14:05:09' (a table's
        column, where the day is the same for every row or given elsewhere)."""
        return format_time(self._local(moment), _CLOCK[self.lang], locale=self.lang)

    def day(self, day: date) -> str:
        """'1. desember 2026'."""
        return format_date(day, _DATE[self.lang], locale=self.lang)

    def number(self, n: float) -> str:
        """'12 345,5' in bokmål, '12,345.5' in English."""
        return format_decimal(n, locale=self.lang)

    def join(self, items: Iterable[str]) -> str:
        """'A, B og C' / 'A, B, and C'."""
        listed = list(items)
        return format_list(listed, locale=self.lang) if listed else ""

    def either(self, items: Iterable[str]) -> str:
        """'A, B eller C' / 'A, B, or C'."""
        listed = list(items)
        return format_list(listed, style="or", locale=self.lang) if listed else ""


def translator(lang: str, catalogues: Mapping[str, Catalogue], zone: tzinfo) -> Translator:
    """The translator for ``lang`` from the catalogues the shell read."""
    code = language(lang)
    return Translator(code, catalogues.get(code, Catalogue()), zone)


def sort_key(text: str) -> str:
    """A key that sorts as Norwegians do: case and accents aside, æ, ø, å after z, in that
    order (Babel has no collation)."""
    folded = text.casefold().translate(_AFTER_Z)
    bare = unicodedata.normalize("NFKD", folded)
    return "".join(c for c in bare if not unicodedata.combining(c))


def N_(message: str) -> str:  # gettext's name for it, which the extractor knows
    """Marks ``message`` for the catalogues where it is defined (a table of words); it is
    translated where it is used, with ``Translator.gettext``."""
    return message
