"""One way to write a time: UTC text ending in Z."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from broker.core.times import utc_z


def test_utc_z_converts_to_utc_and_keeps_microseconds() -> None:
    """Another offset is converted; microseconds are always written, so text order is time
    order."""
    when = datetime(2026, 11, 26, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    assert utc_z(when) == "2026-11-26T12:00:00.000000Z"
    assert utc_z(when.replace(microsecond=5)) == "2026-11-26T12:00:00.000005Z"


def test_utc_z_auto_drops_zero_microseconds() -> None:
    """``auto`` writes what ``isoformat`` would, with Z for +00:00."""
    when = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    assert utc_z(when, "auto") == "2026-11-26T12:00:00Z"
    assert utc_z(when.replace(microsecond=7), "auto") == "2026-11-26T12:00:00.000007Z"


def test_utc_z_refuses_a_naive_time() -> None:
    """A time without a zone names no instant."""
    with pytest.raises(ValueError, match="time zone"):
        utc_z(datetime(2026, 11, 26, 12, 0))
