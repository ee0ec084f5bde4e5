"""The worker's progress records read back: only a record the worker could have written counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from broker.adapters.kafka.progress import ProgressLog, parse_progress
from broker.adapters.settings import Settings
from broker.core.pipeline import progress_message
from broker.core.records import PartitionFloor, ReplayClaim

SETTINGS = Settings(state_dir=Path("/nonexistent/state"), topic_prefix="t.", app_id="t.broker")
NOTICES = SETTINGS.topics.notices
INPUTS = (NOTICES, SETTINGS.topics.routed)
FLOOR = PartitionFloor(topic=NOTICES, partition=1, next_offset=42)
CLAIM = ReplayClaim(
    notice_id="n-1", position="t.notices/1/41", forget_after=datetime(2026, 12, 3, tzinfo=UTC)
)


@dataclass(frozen=True)
class Record:
    """The fields of a consumed record that the reader looks at."""

    key: bytes | None
    value: bytes | None
    partition: int
    topic: str = SETTINGS.topics.progress
    offset: int = 7


def _as_written(record: PartitionFloor | ReplayClaim, partition: int = 1) -> Record:
    m = progress_message(SETTINGS.topics, partition, record)
    return Record(m.key, m.value, partition)


def test_what_the_worker_writes_reads_back_as_its_model() -> None:
    """A floor and a claim, exactly as the committer writes them."""
    assert parse_progress(_as_written(FLOOR), INPUTS) == FLOOR
    assert parse_progress(_as_written(CLAIM), INPUTS) == CLAIM


@pytest.mark.parametrize(
    "record",
    [
        Record(b"floor", b"not json", 1),
        Record(b"floor", None, 1),
        Record(b"floor", FLOOR.model_dump_json().encode(), 1),  # a floor without its topic
        Record(b"floor:t.notices.by-id", FLOOR.model_dump_json().encode(), 1),  # another's key
        Record(b"claim:n-1", FLOOR.model_dump_json().encode(), 1),  # a floor under a claim's key
        Record(b"floor", FLOOR.model_dump_json().encode(), 2),  # another partition's floor
        Record(b"claim:n-2", CLAIM.model_dump_json().encode(), 1),  # another notice's key
    ],
)
def test_a_record_the_worker_could_not_have_written_is_none(record: Record) -> None:
    """Wrong shape, or a key or partition that does not match the content."""
    assert parse_progress(record, INPUTS) is None


def test_a_floor_of_another_input_topic_is_none() -> None:
    assert parse_progress(_as_written(FLOOR), ("other.notices",)) is None


def test_a_skipped_record_is_kept_for_the_audit() -> None:
    """The log remembers where each skipped record was, to audit it once."""
    progress = ProgressLog(SETTINGS)
    assert progress._parse(Record(b"floor", b"{}", 1)) is None
    assert progress._parse(_as_written(FLOOR)) == FLOOR
    assert progress.corrupt == ["t.worker.progress/1/7"]
    progress.corrupt.clear()  # audited
    assert progress._parse(Record(b"floor", b"{}", 1)) is None  # read again on a take-over
    assert progress.corrupt == []


def test_each_stage_has_its_own_floor_on_a_progress_partition() -> None:
    """The route stage's floor of notices/1 and the decide stage's of the routed partition 1
    share progress partition 1 under keys of their own (compaction keeps both)."""
    routed = PartitionFloor(topic=SETTINGS.topics.routed, partition=1, next_offset=9)
    assert _as_written(FLOOR).key != _as_written(routed).key
    assert parse_progress(_as_written(routed), INPUTS) == routed
