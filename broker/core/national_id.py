"""Norwegian national identity numbers (fødselsnummer, D-number, synthetic test numbers).

Eleven digits: birth date (DDMMYY), a three-digit individual number that also fixes the
century, and two mod-11 check digits. D-numbers add 40 to the day; H-numbers add 40 to the
month; the Norwegian Tax Administration's synthetic test numbers add 80 to the month. Our
examples and tests use synthetic numbers only, so no real person can be hit by accident.
Error messages never repeat the number.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

_W1 = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_W2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def _check_digit(digits: str, weights: tuple[int, ...]) -> int | None:
    rest = 11 - sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11
    if rest == 11:
        return 0
    return None if rest == 10 else rest


def check_digits(first9: str) -> str | None:
    """The two check digits for nine leading digits, or None if no valid number has them."""
    k1 = _check_digit(first9, _W1)
    if k1 is None:
        return None
    k2 = _check_digit(first9 + str(k1), _W2)
    return None if k2 is None else f"{k1}{k2}"


def _century(year2: int, individual: int) -> int | None:
    if individual <= 499:
        return 1900
    if individual <= 749 and year2 >= 54:
        return 1800
    if year2 <= 39:
        return 2000
    if individual >= 900:
        return 1900
    return None


def birth_date_of(number: str) -> date:
    """The birth date encoded in a national id number. Raises ValueError without the value."""
    if len(number) != 11 or not number.isdigit():
        raise ValueError("must be exactly 11 digits")
    if check_digits(number[:9]) != number[9:]:
        raise ValueError("check digits do not match (mod 11)")
    day, month, year2 = int(number[0:2]), int(number[2:4]), int(number[4:6])
    if day > 40:  # D-number
        day -= 40
    if month > 80:  # synthetic test number
        month -= 80
    elif month > 40:  # H-number
        month -= 40
    century = _century(year2, int(number[6:9]))
    if century is None:
        raise ValueError("individual number does not fit the year")
    try:
        return date(century + year2, month, day)
    except ValueError:
        raise ValueError("does not encode a valid date") from None


def age_on(born: date, when: datetime) -> int:
    """Age in whole years on the UTC day of ``when`` (a notice's issue time): the one age
    every rule, model and tool reads."""
    on = when.astimezone(UTC).date()
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def validate(number: str) -> str:
    """Return the number if valid; raise ValueError naming the reason, never the value."""
    birth_date_of(number)
    return number


def synthetic(birth: date, individual: int) -> str:
    """A synthetic test number (month + 80) for an invented person, for examples and tests."""
    for ind in range(individual, individual + 50):
        first9 = f"{birth.day:02d}{birth.month + 80:02d}{birth.year % 100:02d}{ind:03d}"
        k = check_digits(first9)
        if k is not None and _century(birth.year % 100, ind) == birth.year // 100 * 100:
            return first9 + k
    raise ValueError("no valid individual number near the one given")
