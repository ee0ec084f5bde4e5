"""Records aiokafka cannot parse become placeholders; the records around them still read."""

from __future__ import annotations

import struct

import pytest
from aiokafka.consumer import fetcher
from aiokafka.consumer.fetcher import PartitionRecords
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.util import calc_crc32c
from aiokafka.structs import TopicPartition

from broker.adapters.kafka import records as kafka_records
from broker.core import envelope
from broker.core.errors import NoticeError

TP = TopicPartition("t.notices", 0)
CRC_AT = 17  # v2 batch header: base offset 8, length 4, epoch 4, magic 1, then the CRC
ATTRIBUTES_AT = 21


def _builder(compression: int) -> DefaultRecordBatchBuilder:
    return DefaultRecordBatchBuilder(
        magic=2,
        compression_type=compression,
        is_transactional=0,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=1 << 20,
    )


def _batch(base_offset: int, headers: list[list[tuple[str, bytes | None]]]) -> bytearray:
    builder = _builder(compression=0)
    for i, h in enumerate(headers):
        builder.append(i, timestamp=1_700_000_000_000, key=None, value=b"v%d" % i, headers=h)
    data = bytearray(builder.build())
    data[0:8] = struct.pack(">q", base_offset)
    return data


def _corrupt_key(data: bytearray, key: bytes, crc: bool = True) -> bytearray:
    at = data.index(key)
    data[at : at + len(key)] = b"\xff\xfe" + key[2:]  # same length: not UTF-8 any more
    if crc:
        data[CRC_AT:ATTRIBUTES_AT] = struct.pack(">I", calc_crc32c(bytes(data[ATTRIBUTES_AT:])))
    return data


def _read(data: bytes) -> list[tuple[int, bytes | None, tuple[tuple[str, bytes | None], ...]]]:
    kafka_records.install()  # the fetcher now builds tolerant records, as in the worker
    records = PartitionRecords(TP, fetcher.MemoryRecords(data), [], 0, None, None, True, 0)
    return [(r.offset, r.value, r.headers) for r in records]


def test_a_batch_that_parses_is_read_as_it_is() -> None:
    """The wrapper changes nothing for records the client can parse."""
    data = bytes(_batch(0, [[("ce_id", b"1")], [("ce_id", b"2")]]))
    assert _read(data) == [(0, b"v0", (("ce_id", b"1"),)), (1, b"v1", (("ce_id", b"2"),))]


def test_a_non_utf8_header_key_makes_that_record_alone_a_placeholder() -> None:
    """The record with the bad key is a placeholder at its own offset; the records before and
    after it in its batch, and the next batch, read normally."""
    bad = _corrupt_key(_batch(0, [[("ok", b"1")], [("xxbad", b"2")], [("ok", b"3")]]), b"xxbad")
    good = _batch(3, [[("ok", b"4")]])
    read = _read(bytes(bad + good))
    assert [(o, v) for o, v, _ in read] == [(0, b"v0"), (1, None), (2, b"v2"), (3, b"v0")]
    assert read[2][2] == (("ok", b"3"),)
    assert read[1][2][0][0] == envelope.UNREADABLE_HEADER
    assert b"UnicodeDecodeError" in (read[1][2][0][1] or b"")


def test_read_batch_reads_compressed_batches_as_aiokafka_does() -> None:
    """The fallback reader agrees with aiokafka on every field of a gzip batch."""
    builder = _builder(compression=1)  # gzip
    for i in range(3):
        builder.append(
            i,
            timestamp=1_700_000_000_000 + i,
            key=b"k%d" % i,
            value=None,
            headers=[("h", None), ("ce_id", b"%d" % i)],
        )
    data = bytes(builder.build())
    ours = [
        (r.offset, r.timestamp, r.key, r.value, tuple(r.headers))
        for r in kafka_records.read_batch(data)
    ]
    theirs = _read(data)
    assert [(o, v, h) for o, _, k, v, h in ours] == theirs
    assert [t for _, t, *_ in ours] == [1_700_000_000_000 + i for i in range(3)]
    assert [k for _, _, k, *_ in ours] == [b"k0", b"k1", b"k2"]


def test_a_batch_with_a_bad_crc_is_placeholders_not_an_exception() -> None:
    """A corrupt batch is read as placeholders for each of its offsets."""
    bad = _corrupt_key(_batch(5, [[("xxbad", b"1")], [("ok", b"2")]]), b"xxbad", crc=False)
    read = _read(bytes(bad))
    assert [o for o, _, _ in read] == [5, 6]
    assert all(v is None for _, v, _ in read)
    assert b"CRC" in (read[0][2][0][1] or b"")


def test_a_placeholder_is_dead_lettered_by_reference() -> None:
    """The pipeline refuses a placeholder with its own code; no real header can be one."""
    (offset, _, headers), *_ = _read(bytes(_corrupt_key(_batch(0, [[("xxbad", b"1")]]), b"xxbad")))
    assert offset == 0
    with pytest.raises(NoticeError) as raised:
        envelope.parse_headers(headers)
    assert raised.value.code == "record-unreadable"
    with pytest.raises(UnicodeEncodeError):  # so no Kafka record can carry this header key
        envelope.UNREADABLE_HEADER.encode("utf-8")
