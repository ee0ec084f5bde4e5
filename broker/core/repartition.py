"""One partition owns each child, and so each notice id: the worker routes every input through
an internal topic keyed by the child the input claims, so a replay of a notice reaches the same
partition (and so the same worker, and the same replay guard) as the notice itself, whichever
input partition it was published to, and one child's notices stay in the order published.

Stage 1 (route) reads an input and forwards its value and headers unchanged to the routed
topic, on the partition of its claimed key (``routing_key``: the Kafka key the publisher set,
the child's partition key (broker.core.crypto.refs.partition_key), readable before the notice
is unsealed; the value's hash if it has none), with a header naming where the input was read
(``ORIGIN_HEADER``: audit records name that position, not the routed one). Stage 2 (decide)
opens and verifies the notice and, before its id is claimed, checks that it was routed by its
own child's key to the partition owning it (``Route.check``): a replay re-keyed to reach
another partition, and a record written to the routed topic by anyone but stage 1, fail here,
``routing-key-mismatch``. Only an input sealed to the broker is forwarded: one in clear is
decided where it was read (a dead letter by reference), so no personal data is copied. Pure:
the partition is a hash of the key, not Kafka's partitioner.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from broker.core.crypto.sealing import SEALED_HEADER, DecryptionError, parse_sealed
from broker.core.envelope import MAX_INPUT_BYTES, RawHeaders, parse_headers
from broker.core.errors import FieldProblem, NoticeError
from broker.core.pipeline import OutMessage, Source

ORIGIN_HEADER = "broker-origin"  # topic/partition/offset of the input, written by stage 1
MAX_KEY_BYTES = 256  # a child's partition key is 32 bytes; a longer claim is keyed by the hash
HASHED = b"sha256:"  # the key of an input with no usable key of its own


def routing_key(value: bytes | None, key: bytes | None) -> bytes:
    """The key an input claims (the child's partition key its publisher set), else the hash
    of its value: every input is routed, a valid notice always by its own child's key."""
    if key and len(key) <= MAX_KEY_BYTES:
        return key
    return HASHED + hashlib.sha256(value or b"").hexdigest().encode()


def partition_of(key: bytes, partitions: int) -> int:
    """The routed partition that owns ``key``."""
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") % partitions


def forward(
    value: bytes | None,
    headers: RawHeaders | None,
    source: Source,
    topic: str,
    partitions: int,
    *,
    key: bytes | None,
) -> OutMessage | None:
    """Stage 1: the input as it came, on the routed partition of its claimed id, with its
    position; None for an input the pipeline refuses on sight (no value, too large, headers
    unreadable, null, twice or too many): stage 1 decides it where it was read, as the dead
    letter it is, and nothing is forwarded that cannot be a notice. A header
    of the origin's name that the input brought is not forwarded (it is not signed, and only
    stage 1 says where an input was read)."""
    if value is None or len(value) > MAX_INPUT_BYTES:
        return None
    try:
        parsed = parse_headers(headers)
    except NoticeError:
        return None
    # Only what is sealed to the broker travels on: a notice sent in clear is personal data,
    # and copying it to another topic would spread it (the pipeline dead-letters it by
    # reference, where it was read). The header alone can lie, so the value must be an
    # envelope too.
    if not _sealed(parsed, value):
        return None
    key = routing_key(value, key)
    kept = tuple((k, v) for k, v in headers or () if k != ORIGIN_HEADER and v is not None)
    return OutMessage(
        topic,
        key,
        value,
        (*kept, (ORIGIN_HEADER, str(source).encode())),
        partition=partition_of(key, partitions),
    )


def _sealed(headers: Mapping[str, bytes], value: bytes) -> bool:
    if headers.get(SEALED_HEADER) != b"1":
        return False
    try:
        parse_sealed(value)
    except DecryptionError:
        return False
    return True


@dataclass(frozen=True)
class Route:
    """How a routed record reached its partition: its key, the partition and how many there
    are, and whether it named a readable origin."""

    key: bytes | None
    partition: int
    partitions: int
    origin_named: bool = True

    def check(self, child_key: bytes) -> None:
        """Stage 2, once the notice is verified and before its id is claimed: it was routed by
        its own child's key to the partition that owns it, by stage 1. Else
        ``routing-key-mismatch``."""
        if not self.origin_named:
            problem = FieldProblem(ORIGIN_HEADER, "missing or unreadable: not routed by the worker")
        elif self.key is not None and self.key.startswith(HASHED):
            problem = FieldProblem("(key)", "missing: a notice is keyed by its child's key")
        elif self.key != child_key:
            problem = FieldProblem("(key)", "is not the key of the child the notice is about")
        elif partition_of(self.key, self.partitions) != self.partition:
            problem = FieldProblem("(routing)", "on another partition than its child's")
        else:
            return
        raise NoticeError("routing-key-mismatch", [problem])


@dataclass(frozen=True)
class Routed:
    """A record of the routed topic as stage 2 decides it: where the input was first read, its
    route, and the input's own headers."""

    source: Source
    route: Route
    headers: tuple[tuple[str, bytes | None], ...]


def receive(
    position: Source, key: bytes | None, headers: RawHeaders | None, partitions: int
) -> Routed:
    """Stage 2: a record read at ``position`` on the routed topic. Without exactly one readable
    origin header (a record stage 1 did not write) its source is the routed position itself,
    and ``Route.check`` refuses it once it verifies."""
    items = tuple(headers or ())
    origins = [v for k, v in items if k == ORIGIN_HEADER]
    rest = tuple((k, v) for k, v in items if k != ORIGIN_HEADER)
    source = _origin(origins[0]) if len(origins) == 1 else None
    route = Route(key, position.partition, partitions, origin_named=source is not None)
    return Routed(source or position, route, rest)


def _origin(raw: bytes | None) -> Source | None:
    try:
        topic, partition, offset = (raw or b"").decode("ascii").rsplit("/", 2)
        found = Source(topic, int(partition), int(offset))
    except ValueError:  # UnicodeDecodeError too
        return None
    return found if topic and found.partition >= 0 and found.offset >= 0 else None
