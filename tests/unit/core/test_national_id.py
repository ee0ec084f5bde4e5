"""National id numbers: check digits, D-numbers, synthetic numbers, no value in errors."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from broker.core import national_id


def test_synthetic_number_round_trips_its_birth_date() -> None:
    """A generated synthetic number validates and encodes the birth date it was made from."""
    number = national_id.synthetic(date(2012, 5, 9), 512)
    assert national_id.birth_date_of(number) == date(2012, 5, 9)


@pytest.mark.parametrize("digit", range(1, 10))
def test_changing_a_check_digit_is_rejected(digit: int) -> None:
    """Every altered last digit fails the mod-11 check."""
    number = national_id.synthetic(date(2013, 8, 2), 547)
    bad = number[:-1] + str((int(number[-1]) + digit) % 10)
    with pytest.raises(ValueError, match="check digits") as exc:
        national_id.validate(bad)
    assert bad not in str(exc.value)


def test_d_number_adds_forty_to_the_day() -> None:
    """D-numbers (day + 40) decode to the real day."""
    first9 = "410512" + "512"  # day 01 + 40, May 2012, individual 512
    number = first9 + (national_id.check_digits(first9) or "")
    if len(number) == 11:
        assert national_id.birth_date_of(number) == date(2012, 5, 1)
    else:  # no check digits exist for this individual number: try the next
        first9 = "410512513"
        number = first9 + str(national_id.check_digits(first9))
        assert national_id.birth_date_of(number) == date(2012, 5, 1)


@pytest.mark.parametrize("bad", ["", "123", "1234567890a", "123456789012"])
def test_wrong_length_or_characters(bad: str) -> None:
    """Anything but 11 digits is rejected with a reason."""
    with pytest.raises(ValueError, match="11 digits"):
        national_id.validate(bad)


def test_impossible_date_is_rejected() -> None:
    """Check digits can be right while the date is impossible (31 February)."""
    first9 = "310212500"
    for ind in range(500, 560):
        first9 = f"310212{ind}"
        if national_id.check_digits(first9):
            break
    with pytest.raises(ValueError, match="valid date"):
        national_id.validate(first9 + str(national_id.check_digits(first9)))


@pytest.mark.parametrize(
    ("when", "age"),
    [
        (datetime(2026, 5, 8, 23, 0, tzinfo=UTC), 13),  # the day before the birthday
        (datetime(2026, 5, 9, 0, 0, tzinfo=UTC), 14),  # the birthday
        # 00:30 on the birthday in Oslo is still the day before in UTC
        (datetime(2026, 5, 9, 0, 30, tzinfo=timezone(timedelta(hours=2))), 13),
    ],
)
def test_age_is_whole_years_on_the_utc_day(when: datetime, age: int) -> None:
    """The one age the models, the rules and the tools read: whole years, by the UTC date."""
    assert national_id.age_on(date(2012, 5, 9), when) == age
