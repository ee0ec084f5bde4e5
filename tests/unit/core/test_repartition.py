"""One partition owns each notice id: the key of a routed input, its partition, its origin, and
the refusal of a notice that reached a partition by another id than its own."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from broker.core import repartition
from broker.core.crypto.refs import partition_key
from broker.core.crypto.sealing import SealedDelivery
from broker.core.envelope import MAX_INPUT_BYTES, UNREADABLE_HEADER
from broker.core.errors import NoticeError
from broker.core.pipeline import Result, Source
from broker.core.repartition import ORIGIN_HEADER, Route, forward, partition_of, receive
from broker.testing.fakes import ReadyPipeline

ROUTED = "t.notices.by-id"
N = 3


def _sealed(ready: ReadyPipeline, doc: dict[str, Any]) -> tuple[bytes, list[Any]]:
    headers, value = ready.publish(json.dumps(doc).encode(), ready.headers(doc))
    return value, headers


def _key(ready: ReadyPipeline, doc: dict[str, Any]) -> bytes:
    """The Kafka key a publisher sets: the child's partition key (broker.adapters.publisher)."""
    return partition_key(ready.pipeline.subject_key, "notices", doc["child"]["national_id"])


def _through(
    ready: ReadyPipeline,
    value: bytes,
    headers: Any,
    origin: Source,
    offset: int = 0,
    *,
    key: bytes,
) -> Result:
    """Stage 1 then stage 2, as the worker runs them."""
    out = forward(value, headers, origin, ROUTED, N, key=key)
    assert out is not None
    position = Source(ROUTED, out.partition or 0, offset)
    routed = receive(position, out.key, out.headers, N)
    return ready.pipeline.process(value, routed.headers, routed.source, routed.route)


# --- the key and the partition ---------------------------------------------------------------


def test_an_input_is_keyed_by_the_child_it_claims() -> None:
    assert repartition.routing_key(b"v", b"c0ffee") == b"c0ffee"


@pytest.mark.parametrize("key", [None, b"", b"x" * 300])
def test_an_input_with_no_usable_key_is_keyed_by_its_hash(key: bytes | None) -> None:
    """Still routed (and so accounted for), by what it is."""
    expected = b"sha256:" + hashlib.sha256(b"value").hexdigest().encode()
    assert repartition.routing_key(b"value", key) == expected


def test_a_key_always_has_the_same_partition_and_keys_spread() -> None:
    keys = [f"id-{i}".encode() for i in range(300)]
    assert [partition_of(k, N) for k in keys] == [partition_of(k, N) for k in keys]
    counts = [sum(partition_of(k, N) == p for k in keys) for p in range(N)]
    assert min(counts) > 60, counts


# --- stage 1: forward ------------------------------------------------------------------------


# an envelope's shape (not a real one: stage 1 opens nothing, it only checks the shape)
ENVELOPE = (
    SealedDelivery(
        recipient_key_id="x25519-0123456789abcdef", wrapped_key="AA", nonce="AA", ciphertext="AA"
    )
    .model_dump_json()
    .encode()
)


def test_a_forward_keeps_value_and_headers_and_adds_the_origin() -> None:
    headers = [
        ("ce_id", b"n-1"),
        ("ce_type", b"t"),
        ("ce_sealed", b"1"),
        (ORIGIN_HEADER, b"forged/0/1"),
    ]
    out = forward(ENVELOPE, headers, Source("t.notices", 2, 41), ROUTED, N, key=b"child-1")
    assert out is not None
    assert (out.topic, out.key, out.value) == (ROUTED, b"child-1", ENVELOPE)
    assert out.partition == partition_of(b"child-1", N)
    # the input's own origin header is not forwarded: only stage 1 says where it was read
    assert out.headers == (
        ("ce_id", b"n-1"),
        ("ce_type", b"t"),
        ("ce_sealed", b"1"),
        (ORIGIN_HEADER, b"t.notices/2/41"),
    )


@pytest.mark.parametrize(
    ("value", "headers"),
    [
        (b'{"child": {"name": "Ola"}}', [("ce_id", b"n-1")]),  # in clear
        (b'{"child": {"name": "Ola"}}', [("ce_id", b"n-1"), ("ce_sealed", b"1")]),  # a lie
        (ENVELOPE, [("ce_id", b"n-1")]),  # an envelope not marked sealed
    ],
)
def test_only_what_is_sealed_to_the_broker_travels_on(value: bytes, headers: Any) -> None:
    """A notice in clear is personal data: copying it to the routed topic would spread it, so
    stage 1 decides it where it was read (a dead letter by reference)."""
    assert forward(value, headers, Source("t.notices", 0, 1), ROUTED, N, key=b"k") is None


@pytest.mark.parametrize(
    ("value", "headers"),
    [
        (None, [("ce_id", b"n-1")]),
        (b"x" * (MAX_INPUT_BYTES + 1), [("ce_id", b"n-1")]),
        (b"v", [("ce_id", None)]),
        (b"v", [("ce_id", b"a"), ("ce_id", b"a")]),
        (None, [(UNREADABLE_HEADER, b"bad CRC")]),
    ],
)
def test_what_can_be_no_notice_is_not_forwarded(value: bytes | None, headers: Any) -> None:
    """Stage 1 dead-letters it where it was read (a placeholder cannot even be written)."""
    assert forward(value, headers, Source("t.notices", 0, 1), ROUTED, N, key=b"k") is None


# --- stage 2: receive ------------------------------------------------------------------------


def test_a_routed_record_is_decided_as_read_where_it_was_published() -> None:
    position = Source(ROUTED, 1, 9)
    found = receive(position, b"k", [("ce_id", b"k"), (ORIGIN_HEADER, b"t.notices/2/41")], N)
    assert found.source == Source("t.notices", 2, 41)
    assert found.headers == (("ce_id", b"k"),)
    assert found.route == Route(b"k", 1, N)


@pytest.mark.parametrize(
    "origins",
    [[], [b"t.notices/2/41", b"t.notices/0/1"], [b"no-position"], [b"t/x/1"], [b"\xff/0/1"]],
)
def test_a_record_without_one_readable_origin_is_its_routed_position(origins: list[bytes]) -> None:
    position = Source(ROUTED, 1, 9)
    found = receive(position, b"k", [(ORIGIN_HEADER, o) for o in origins], N)
    assert found.source == position
    assert not found.route.origin_named


def test_route_check_names_what_is_wrong() -> None:
    key = b"n-1"
    right = partition_of(key, N)
    Route(key, right, N).check(b"n-1")
    cases = {
        "(key)": Route(b"n-2", partition_of(b"n-2", N), N),
        "(routing)": Route(key, (right + 1) % N, N),
        ORIGIN_HEADER: Route(key, right, N, origin_named=False),
    }
    for where, route in cases.items():
        with pytest.raises(NoticeError) as raised:
            route.check(b"n-1")
        assert raised.value.code == "routing-key-mismatch"
        assert raised.value.problems[0].field == where


# --- through the pipeline --------------------------------------------------------------------


def test_a_routed_notice_is_decided_and_audited_at_its_origin(
    ready: ReadyPipeline, notice: Any
) -> None:
    doc = notice("threat")
    value, headers = _sealed(ready, doc)
    result = _through(ready, value, headers, Source("t.notices", 2, 41), key=_key(ready, doc))
    assert result.error is None
    assert result.decisions
    assert {r.value.count(b"t.notices/2/41") for r in result.audit_records} == {1}
    (claim,) = result.progress
    # the claim is on the progress partition of the routed partition that owns the child
    assert claim.partition == partition_of(_key(ready, doc), N)


def test_the_same_bytes_from_another_input_partition_reach_the_same_guard_and_are_replayed(
    ready: ReadyPipeline, notice: Any
) -> None:
    doc = notice("threat")
    value, headers = _sealed(ready, doc)
    key = _key(ready, doc)
    first = _through(ready, value, headers, Source("t.notices", 0, 5), key=key)
    again = _through(ready, value, headers, Source("t.notices", 0, 5), key=key)  # redelivered
    replay = _through(ready, value, headers, Source("t.notices", 2, 7), offset=1, key=key)
    assert first.error is None
    assert again.error is None
    assert replay.error is not None
    assert replay.error.code == "notice-replayed"


def test_a_notice_routed_by_another_id_is_refused_and_claims_nothing(
    ready: ReadyPipeline, notice: Any
) -> None:
    """A record on the routed topic whose key is not its child's (only an insider can write
    one, or a replay re-keyed by its sender): routing-key-mismatch, audited; its id is not
    burnt where it does not belong."""
    doc = notice("threat")
    value, headers = _sealed(ready, doc)
    out = forward(value, headers, Source("t.notices", 0, 5), ROUTED, N, key=_key(ready, doc))
    assert out is not None
    other = b"another-id"
    forged = receive(Source(ROUTED, partition_of(other, N), 3), other, out.headers, N)
    refused = ready.pipeline.process(value, forged.headers, forged.source, forged.route)
    assert refused.error is not None
    assert refused.error.code == "routing-key-mismatch"
    assert refused.progress == ()
    assert len(refused.audit_records) == 1
    assert refused.dead_letter is not None
    accepted = _through(ready, value, headers, Source("t.notices", 0, 5), key=_key(ready, doc))
    assert accepted.error is None
