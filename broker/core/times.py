"""Time, written and compared one way everywhere: UTC text ending in ``Z``, and one allowance
for clocks that disagree.

The core never reads the clock: whoever calls it passes ``now``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

# How far a sender's clock may run ahead of ours (a notice's issued_at, a signature's ce_time),
# and so how much longer than its window a notice id must be remembered: clocks drift, not by
# hours.
CLOCK_SKEW = timedelta(minutes=5)

TimeSpec = Literal["auto", "microseconds"]


def utc_z(when: datetime, timespec: TimeSpec = "microseconds") -> str:
    """``when`` in UTC as RFC 3339 text ending in ``Z``. Microseconds by default, so that text
    order is time order; ``auto`` drops them when zero. A naive time is refused (ValueError):
    it names no instant."""
    if when.tzinfo is None:
        raise ValueError("time must carry a time zone")
    return when.astimezone(UTC).isoformat(timespec=timespec).removesuffix("+00:00") + "Z"
