"""The fast CloudEvents header writer matches the cloudevents library exactly."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from broker.core.envelope import binary_headers, decode_notice, library_headers
from broker.core.errors import NoticeError


@pytest.mark.parametrize("dataschema", [None, "schemas/risk-notice.v1.schema.json"])
@pytest.mark.parametrize("tz", [UTC, timezone(timedelta(hours=1))])
def test_fast_headers_equal_the_library(dataschema: str | None, tz: timezone) -> None:
    """Same header names and bytes as cloudevents.core.bindings.kafka.to_binary."""
    when = datetime(2026, 11, 26, 12, 30, 5, 123456, tzinfo=tz)
    fast = binary_headers("no.oslo.broker.delivery.v1", "/broker", "abc", when, dataschema)
    assert dict(fast) == dict(
        library_headers("no.oslo.broker.delivery.v1", "/broker", "abc", when, dataschema)
    )


def test_library_accepts_the_fast_headers() -> None:
    """Headers from the fast path parse as a CloudEvent (then fail only on the empty body)."""
    headers = dict(
        binary_headers("no.oslo.broker.risk-notice.v1", "/police/x", "1", datetime.now(UTC))
    )
    with pytest.raises(NoticeError, match=r"^not-json"):
        decode_notice(headers, b"")
