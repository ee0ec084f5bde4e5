"""The message catalogues (``<lang>/LC_MESSAGES/broker.po`` beside this module), read once.

The .po files are the catalogues: they are read with Babel into memory, so there is no
compiled .mo to keep in step with them (tests/unit/adapters/test_locale.py checks that every
string the code uses is in both, and none of bokmål's is empty or fuzzy).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from zoneinfo import ZoneInfo

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from broker.core.i18n import DEFAULT_LANGUAGE, LANGUAGES, Catalogue, Translator, translator

DOMAIN = "broker"
ZONE = "Europe/Oslo"  # dates on screen; records stay in UTC


def po_file(lang: str) -> Traversable:
    return resources.files(__name__).joinpath(lang, "LC_MESSAGES", f"{DOMAIN}.po")


def read_catalog(lang: str) -> Catalog:
    """The .po file of ``lang`` as Babel's catalogue (tests check it against the code)."""
    with po_file(lang).open("rb") as f:
        return read_po(f, locale=lang, domain=DOMAIN)


def _catalogue(catalog: Catalog) -> Catalogue:
    messages: dict[str, str] = {}
    plurals: dict[str, tuple[str, str]] = {}
    for m in catalog:
        if not m.id or m.fuzzy:
            continue
        if isinstance(m.id, tuple | list):
            forms = tuple(m.string) if isinstance(m.string, tuple | list) else ()
            if len(forms) == 2 and all(forms):
                plurals[str(m.id[0])] = (str(forms[0]), str(forms[1]))
        elif m.string:
            messages[str(m.id)] = str(m.string)
    return Catalogue(messages, plurals)


@cache
def catalogues() -> dict[str, Catalogue]:
    return {lang: _catalogue(read_catalog(lang)) for lang in LANGUAGES}


def load_translator(lang: str = DEFAULT_LANGUAGE) -> Translator:
    """The translator for ``lang`` ('nb' or 'en'; LanguageError otherwise), in Oslo time."""
    return translator(lang, catalogues(), ZoneInfo(ZONE))
