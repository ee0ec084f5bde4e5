"""The worker's commits, against a fake transactional producer: one transaction holds a batch's
outputs, its floor and its input offset; Kafka's errors end a commit in exactly one way each."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    MessageSizeTooLargeError,
    ProducerFenced,
    TopicAuthorizationFailedError,
)
from aiokafka.structs import TopicPartition

from broker.adapters.kafka.progress import ProgressLog
from broker.adapters.kafka.transactions import (
    PERMISSION_RETRIES,
    CommitImpossible,
    Committer,
    OutputRefused,
    WorkerStopping,
)
from broker.adapters.settings import Settings
from broker.core.pipeline import OutMessage
from broker.core.records import PartitionFloor

TP = TopicPartition("t.notices", 0)
SETTINGS = Settings(state_dir=Path("/nonexistent/state"), topic_prefix="t.", app_id="t.broker")


@dataclass
class FakeProducer:
    """A transactional producer that records what one transaction holds; ``fail`` raises."""

    fail: BaseException | None = None
    sent: list[tuple[str, bytes, int | None]] = field(default_factory=list)
    offsets: list[dict[TopicPartition, int]] = field(default_factory=list)
    transactions: int = 0
    stopped: bool = False

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        self.transactions += 1
        yield

    async def send(self, topic: str, value: bytes, **kw: Any) -> asyncio.Future[None]:
        if self.fail is not None:
            raise self.fail
        self.sent.append((topic, value, kw.get("partition")))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def send_offsets_to_transaction(self, offsets: dict[Any, int], group: str) -> None:
        self.offsets.append(offsets)

    async def stop(self) -> None:
        self.stopped = True


def _committer(producer: FakeProducer, floor: int = -1) -> Committer:
    committer = Committer(SETTINGS, SETTINGS.app_id, ProgressLog(SETTINGS), "decide")
    committer.producers[TP.partition] = producer
    committer.floors[TP.partition] = floor
    committer.RETRY_FIRST = 0.001
    return committer


def _out(n: int) -> list[OutMessage]:
    return [OutMessage("t.audit", None, f"record {i}".encode(), ()) for i in range(n)]


def test_a_batch_its_floor_and_its_offset_commit_in_one_transaction() -> None:
    """The outputs, then the partition's floor on its progress partition, then the offset."""
    producer = FakeProducer()
    committer = _committer(producer)
    assert asyncio.run(committer.commit(TP, _out(2), 0, 3)) is True
    assert producer.transactions == 1
    assert [t for t, _, _ in producer.sent] == ["t.audit", "t.audit", "t.worker.progress"]
    _, value, partition = producer.sent[-1]
    floor = PartitionFloor.model_validate_json(value)
    assert (floor.topic, floor.partition, floor.next_offset, partition) == (TP.topic, 0, 3, 0)
    assert producer.offsets == [{TP: 3}]
    assert committer.floors[TP.partition] == 3


def test_the_input_offset_joins_a_transaction_at_most_once_per_interval() -> None:
    """Every transaction carries the floor; the group offset only the first after taking the
    partition over and then one per ``offsets_every`` seconds (a clock of the test's own)."""
    producer = FakeProducer()
    committer = _committer(producer)
    now = [100.0]
    committer.clock = lambda: now[0]
    asyncio.run(committer.commit(TP, _out(1), 0, 1))
    now[0] += 0.5
    asyncio.run(committer.commit(TP, _out(1), 1, 2))
    now[0] += 0.6
    asyncio.run(committer.commit(TP, _out(1), 2, 3))
    assert producer.transactions == 3
    assert producer.offsets == [{TP: 1}, {TP: 3}]
    floors = [PartitionFloor.model_validate_json(v) for t, v, _ in producer.sent if "progress" in t]
    assert [f.next_offset for f in floors] == [1, 2, 3]
    asyncio.run(committer.revoke([TP.partition]))  # a new producer: its first sends the offset
    committer.producers[TP.partition] = producer
    committer.floors[TP.partition] = 3
    asyncio.run(committer.commit(TP, _out(1), 3, 4))
    assert producer.offsets[-1] == {TP: 4}


def test_inputs_another_owner_committed_are_not_committed_again() -> None:
    """The partition's floor is past the batch: nothing is sent, the commit says no."""
    producer = FakeProducer()
    committer = _committer(producer, floor=5)
    assert asyncio.run(committer.commit(TP, _out(1), 2, 3)) is False
    assert (producer.sent, producer.transactions) == ([], 0)


def test_an_output_kafka_refuses_is_never_retried() -> None:
    """Too large for Kafka: OutputRefused names the error; the producer is dropped."""
    producer = FakeProducer(fail=MessageSizeTooLargeError())
    committer = _committer(producer)
    with pytest.raises(OutputRefused) as refused:
        asyncio.run(committer.commit(TP, _out(1), 0, 1))
    assert refused.value.error_class == "MessageSizeTooLargeError"
    assert producer.stopped
    assert committer.producers == {}


def test_a_fenced_producer_commits_nothing_and_says_so() -> None:
    """Another worker owns the partition now: False, and this worker's producer is gone."""
    producer = FakeProducer(fail=ProducerFenced())
    committer = _committer(producer)
    assert asyncio.run(committer.commit(TP, _out(1), 0, 1)) is False
    assert producer.stopped
    assert committer.producers == {}


def _failing(errors: list[BaseException], then: Any = None) -> tuple[Callable[[], Any], list[int]]:
    calls: list[int] = []

    async def op() -> Any:
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return then

    return op, calls


def test_transient_errors_are_retried_until_they_pass() -> None:
    """Kafka away twice, then back: the third try's result."""
    op, calls = _failing([KafkaConnectionError(), KafkaConnectionError()], then=7)
    assert asyncio.run(_committer(FakeProducer())._patiently("commit", 0, op)) == 7
    assert len(calls) == 3


def test_a_missing_permission_stops_the_worker_after_a_few_tries() -> None:
    """An ACL being applied gets a few tries; then CommitImpossible, naming the error."""
    op, calls = _failing([TopicAuthorizationFailedError()] * 10)
    with pytest.raises(CommitImpossible, match="TopicAuthorizationFailedError"):
        asyncio.run(_committer(FakeProducer())._patiently("commit", 0, op))
    assert len(calls) == PERMISSION_RETRIES


def test_sigterm_stops_the_retries_at_once() -> None:
    """Once stopping is set no further try is made: WorkerStopping."""
    committer = _committer(FakeProducer())
    committer.RETRY_FIRST = 30.0  # the back-off is cut short by the stop, not waited out

    async def op() -> None:
        committer.stopping.set()
        raise KafkaConnectionError()

    async def run() -> None:
        await asyncio.wait_for(committer._patiently("commit", 0, op), 5)

    with pytest.raises(WorkerStopping):
        asyncio.run(run())
