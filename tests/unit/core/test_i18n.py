"""The translator: sentences from the catalogue with named placeholders, Oslo dates and
numbers as Norwegians write them, Norwegian order, and a clear error for an unknown language."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from broker.core.i18n import Catalogue, LanguageError, language, sort_key, translator

OSLO_WINTER = timezone(timedelta(hours=1))  # a fixed zone: no tz database in the core's tests
CATALOGUES = {
    "nb": Catalogue(
        {"Hello %(name)s": "Hei %(name)s"},
        {"%(n)s record": ("%(n)s post", "%(n)s poster")},
    )
}
NB = translator("nb", CATALOGUES, OSLO_WINTER)
EN = translator("en", CATALOGUES, OSLO_WINTER)


def test_a_message_is_translated_with_its_placeholders_filled() -> None:
    assert NB.gettext("Hello %(name)s", name="Kari") == "Hei Kari"


def test_a_message_the_catalogue_lacks_reads_as_its_english_msgid() -> None:
    assert NB.gettext("Goodbye %(name)s", name="Kari") == "Goodbye Kari"
    assert EN.gettext("Hello %(name)s", name="Kari") == "Hello Kari"


def test_plural_forms_choose_by_count_and_write_the_number() -> None:
    assert NB.ngettext("%(n)s record", "%(n)s records", 1) == "1 post"
    assert NB.ngettext("%(n)s record", "%(n)s records", 12345) == "12\xa0345 poster"
    assert EN.ngettext("%(n)s record", "%(n)s records", 0) == "0 records"


def test_times_are_shown_in_the_zone_as_norwegians_write_them() -> None:
    """13:05 UTC is 14.05 in Oslo in winter; the record keeps UTC, the screen shows Oslo."""
    moment = datetime(2026, 12, 1, 13, 5, tzinfo=UTC)
    assert NB.when(moment) == "1. desember 2026 kl. 14.05"
    assert EN.when(moment) == "1 December 2026, 14:05"


def test_a_time_late_in_the_utc_day_is_the_next_day_in_oslo() -> None:
    assert NB.when(datetime(2026, 11, 30, 23, 30, tzinfo=UTC)) == "1. desember 2026 kl. 00.30"


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        NB.when(datetime(2026, 12, 1, 13, 5))  # naive on purpose


def test_dates_numbers_and_lists() -> None:
    assert NB.day(date(2027, 5, 17)) == "17. mai 2027"
    assert EN.day(date(2027, 5, 17)) == "17 May 2027"
    assert NB.number(12345.5) == "12\xa0345,5"
    assert EN.number(12345.5) == "12,345.5"
    assert NB.join(["Kari", "Ola", "Per"]) == "Kari, Ola og Per"
    assert EN.join(["Kari", "Ola"]) == "Kari and Ola"
    assert NB.join([]) == ""


def test_norwegian_order_puts_ae_oe_aa_after_z() -> None:
    names = ["Ålesund", "Østensjø", "Zeta", "Ærfugl", "alna", "Bjerke", "Ullern"]
    assert sorted(names, key=sort_key) == [
        "alna",
        "Bjerke",
        "Ullern",
        "Zeta",
        "Ærfugl",
        "Østensjø",
        "Ålesund",
    ]


def test_accents_other_than_norwegian_letters_sort_with_their_base_letter() -> None:
    assert sorted(["Frogner", "Élise", "Eva"], key=sort_key) == ["Élise", "Eva", "Frogner"]


def test_language_codes() -> None:
    assert language("nb") == "nb"
    assert language(" NO ") == "nb"
    assert language("nb_NO") == "nb"
    assert language("en") == "en"


def test_an_unknown_language_is_refused_naming_the_choices() -> None:
    with pytest.raises(LanguageError, match="'sv' is not a language of the catalogues: nb, en"):
        translator("sv", CATALOGUES, UTC)
