"""Records the Kafka client cannot parse become placeholders instead of stopping the consumer.

aiokafka parses a fetched record batch lazily while the consumer hands records out. One record
it cannot parse (a header key that is not UTF-8, a bad CRC, a batch that does not decompress)
raises out of ``getmany`` every time the partition is fetched again: the worker stops, and stops
again on every restart. aiokafka has no hook for this, so ``install()`` wraps each batch it
reads: a record that fails to parse, and every later offset of the same batch (a batch is one
producer's request; its remaining records cannot be located once one fails), is handed out as a
placeholder with no key and no value and one header, ``envelope.UNREADABLE_HEADER``, naming the
exception class. A placeholder can never be confused with a real record: its header key is a
string that no UTF-8 decoding produces. The pipeline turns it into a dead letter by reference
(topic, partition, offset, reason), audited, and the consumer moves past it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from broker.envelope import UNREADABLE_HEADER

__all__ = ["TolerantBatch", "TolerantRecords", "Unreadable", "install"]


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


class TolerantBatch:
    """A record batch whose iteration never raises: what fails becomes placeholders up to the
    batch's last offset. Everything else is the wrapped batch's."""

    def __init__(self, batch: Any) -> None:
        self._batch = batch
        self._records: Any = None
        self._failed: str | None = None
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
            except Exception as exc:  # whatever the parser raises: this batch is unreadable
                self._failed = type(exc).__name__
            else:
                self._next = int(record.offset) + 1
                return record
        if self._next >= int(self._batch.next_offset):
            raise StopIteration
        offset, self._next = self._next, self._next + 1
        return Unreadable(
            offset, int(self._batch.first_timestamp), int(self._batch.timestamp_type), self._failed
        )


class TolerantRecords:
    """Wraps aiokafka's MemoryRecords so that every batch it yields is a TolerantBatch."""

    def __init__(self, records: Any) -> None:
        self._records = records

    def has_next(self) -> bool:
        return bool(self._records.has_next())

    def next_batch(self) -> Any:
        batch = self._records.next_batch()
        return None if batch is None else TolerantBatch(batch)

    def size_in_bytes(self) -> int:
        return int(self._records.size_in_bytes())


_installed: list[Callable[..., None]] = []


def install() -> None:
    """Make every aiokafka consumer in this process tolerant (idempotent)."""
    if _installed:
        return
    from aiokafka.consumer import fetcher  # noqa: PLC0415 - the shell's dependency, not core's

    original = fetcher.PartitionRecords.__init__

    def init(self: Any, tp: Any, records: Any, *args: Any, **kwargs: Any) -> None:
        original(self, tp, TolerantRecords(records), *args, **kwargs)

    fetcher.PartitionRecords.__init__ = init
    _installed.append(original)
