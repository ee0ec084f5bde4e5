"""Records the Kafka client cannot parse become placeholders instead of stopping the consumer.

aiokafka parses a fetched record batch lazily while the consumer hands records out. One record
it cannot parse (a header key that is not UTF-8, a bad CRC, a batch that does not decompress)
raises out of ``getmany`` every time the partition is fetched again: the worker stops, and stops
again on every restart. aiokafka has no hook for this, so ``install()`` wraps the fetched bytes
and each batch read from them. When aiokafka fails on a batch, the batch is read again here,
record by record (``read_batch``, from the v2 record format: each record is length-prefixed, so
one bad record does not hide the next): a record that parses is handed out as it is, one that
does not as a placeholder with no key and no value and one header,
``envelope.UNREADABLE_HEADER``, naming the reason. A batch that fails its CRC or cannot be
decompressed is placeholders at every offset. A placeholder can never be confused with a real
record: its header key is a string that no UTF-8 decoding produces. The pipeline turns it into
a dead letter by reference (topic, partition, offset, reason), audited, and the consumer moves
past it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from broker.core.envelope import UNREADABLE_HEADER

__all__ = ["Parsed", "TolerantBatch", "TolerantRecords", "Unreadable", "install", "read_batch"]

_HEADER = struct.Struct(">qiibIhiqqqhii")  # the v2 record batch header: 61 bytes
_CODEC_MASK, _TIMESTAMP_TYPE_BIT = 0x07, 0x08


@dataclass(frozen=True)
class Parsed:
    """A record read by ``read_batch`` (the shape aiokafka reads)."""

    offset: int
    timestamp: int
    timestamp_type: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]
    checksum: None = None


@dataclass(frozen=True)
class Unreadable:
    """Stands in for a record the client could not parse (the shape aiokafka reads)."""

    offset: int
    timestamp: int
    timestamp_type: int
    reason: str
    key: None = None
    value: None = None
    checksum: None = None
    headers: list[tuple[str, bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.headers.append((UNREADABLE_HEADER, self.reason.encode("ascii", "replace")))


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """A zigzag varint (Kafka's record fields) at ``pos``: (value, next position)."""
    value = shift = 0
    while True:
        if shift > 63:
            raise ValueError("varint too long")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return (value >> 1) ^ -(value & 1), pos
        shift += 7


def _bytes(buf: bytes, pos: int) -> tuple[bytes | None, int]:
    n, pos = _varint(buf, pos)
    if n < 0:
        return None, pos
    if pos + n > len(buf):
        raise ValueError("field runs past the record")
    return buf[pos : pos + n], pos + n


def _decompress(codec: int, data: bytes) -> bytes:
    from aiokafka import codec as c  # noqa: PLC0415 - the shell's dependency, not core's

    decoders: dict[int, Callable[[bytes], bytes]] = {
        1: c.gzip_decode,
        2: c.snappy_decode,
        3: c.lz4_decode,
        4: c.zstd_decode,
    }
    return bytes(decoders[codec](data)) if codec else data


def read_batch(raw: bytes) -> list[Parsed | Unreadable]:
    """Every record of one v2 record batch: parsed, or a placeholder at its own offset."""
    (
        base_offset,
        _length,
        _epoch,
        _magic,
        _crc,
        attributes,
        last_delta,
        first_ts,
        max_ts,
        _pid,
        _pepoch,
        _seq,
        count,
    ) = _HEADER.unpack_from(raw, 0)
    ts_type = 1 if attributes & _TIMESTAMP_TYPE_BIT else 0
    out: list[Parsed | Unreadable] = []
    try:
        data = _decompress(attributes & _CODEC_MASK, raw[_HEADER.size :])
    except Exception as exc:  # a batch that does not decompress: nothing in it can be read
        why = f"{type(exc).__name__}: the batch does not decompress"
        return [Unreadable(base_offset + d, first_ts, ts_type, why) for d in range(last_delta + 1)]
    pos = 0
    for _ in range(count):
        try:
            length, body = _varint(data, pos)
        except (IndexError, ValueError):  # the records cannot be located any more
            break
        end, pos, offset = body + length, body + length, None
        try:
            _, p = _varint(data, body)  # attributes: unused in v2 records
            ts_delta, p = _varint(data, p)
            offset_delta, p = _varint(data, p)
            offset = base_offset + offset_delta
            key, p = _bytes(data, p)
            value, p = _bytes(data, p)
            n, p = _varint(data, p)
            headers: list[tuple[str, bytes | None]] = []
            for _h in range(n):
                name, p = _bytes(data, p)
                header_value, p = _bytes(data, p)
                headers.append(((name or b"").decode("utf-8"), header_value))
            if p != end:
                raise ValueError("the record's length does not match its fields")
            when = max_ts if ts_type else first_ts + ts_delta
            out.append(Parsed(offset, when, ts_type, key, value, headers))
        except Exception as exc:  # this record alone is unreadable
            at = offset if offset is not None else (out[-1].offset + 1 if out else base_offset)
            out.append(Unreadable(at, first_ts, ts_type, type(exc).__name__))
    seen = out[-1].offset + 1 if out else base_offset
    out += [
        Unreadable(o, first_ts, ts_type, "the record cannot be located")
        for o in range(seen, base_offset + last_delta + 1)
    ]
    return out


class TolerantBatch:
    """A record batch whose iteration never raises: when aiokafka fails on it, the batch is
    read again with ``read_batch`` from its bytes. Everything else is the wrapped batch's."""

    def __init__(self, batch: Any, raw: memoryview | bytes | None = None) -> None:
        self._batch = batch
        self._raw = raw
        self._records: Any = None
        self._failed: str | None = None
        self._fallback: list[Parsed | Unreadable] | None = None
        self._next = int(batch.base_offset)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._batch, name)

    def validate_crc(self) -> bool:
        # a corrupt batch is read as placeholders rather than raising for the whole fetch
        if not self._batch.validate_crc():
            self._failed = "CorruptRecordException: CRC mismatch"
        return True

    def __iter__(self) -> TolerantBatch:
        return self

    def __next__(self) -> Any:
        if self._failed is None:
            try:
                if self._records is None:
                    self._records = iter(self._batch)  # may decompress: may fail
                record = next(self._records)
            except StopIteration:
                raise
            except Exception as exc:  # whatever aiokafka raises: read the batch ourselves
                self._failed = type(exc).__name__
                if self._raw is not None:
                    try:
                        self._fallback = read_batch(bytes(self._raw))
                    except Exception:  # then placeholders, below
                        self._fallback = None
            else:
                self._next = int(record.offset) + 1
                return record
        while self._fallback:
            item = self._fallback.pop(0)
            if item.offset >= self._next:
                self._next = item.offset + 1
                return item
        if self._next >= int(self._batch.next_offset):
            raise StopIteration
        offset, self._next = self._next, self._next + 1
        return Unreadable(
            offset, int(self._batch.first_timestamp), int(self._batch.timestamp_type), self._failed
        )


class TolerantRecords:
    """Wraps aiokafka's MemoryRecords so that every batch it yields is a TolerantBatch that
    knows its own bytes (batches follow each other: offset, length, then length bytes)."""

    def __init__(self, records: Any, raw: bytes | None = None) -> None:
        self._records = records
        self._raw = raw
        self._at = 0

    def has_next(self) -> bool:
        return bool(self._records.has_next())

    def next_batch(self) -> Any:
        batch = self._records.next_batch()
        if batch is None:
            return None
        raw = None
        if self._raw is not None and self._at + 12 <= len(self._raw):
            (length,) = struct.unpack_from(">i", self._raw, self._at + 8)
            # a view, copied only if the batch must be read again
            raw = memoryview(self._raw)[self._at : self._at + 12 + length]
            self._at += 12 + length
        return TolerantBatch(batch, raw)

    def size_in_bytes(self) -> int:
        return int(self._records.size_in_bytes())


_installed: list[Any] = []


def install() -> None:
    """Make every aiokafka consumer in this process tolerant (idempotent)."""
    if _installed:
        return
    from aiokafka.consumer import fetcher  # noqa: PLC0415 - the shell's dependency, not core's

    original = fetcher.MemoryRecords

    def memory_records(data: bytes) -> TolerantRecords:
        return TolerantRecords(original(data), data)

    fetcher.MemoryRecords = memory_records  # what the fetcher builds each fetch's records with
    _installed.append(original)
