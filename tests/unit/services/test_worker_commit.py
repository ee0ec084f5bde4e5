"""The worker's commit loop against a committer that refuses what Kafka would refuse: an input
whose outputs cannot be written becomes a dead letter by reference, and the rest commit."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.structs import TopicPartition

from broker.adapters.kafka.transactions import CommitImpossible, OutputRefused
from broker.core.pipeline import OutMessage, Source
from broker.services.stages import Input, decide_and_commit
from broker.testing.fakes import ReadyPipeline

TP = TopicPartition("t.notices", 0)


@dataclass
class Message:
    """What Faust hands the agent: the fields the worker reads."""

    value: bytes | None
    headers: list[tuple[str, bytes | None]]
    offset: int
    topic: str = TP.topic
    partition: int = TP.partition
    key: bytes | None = None


@dataclass
class RefusingCommitter:
    """Commits like Kafka would, but refuses any message over ``limit`` bytes."""

    limit: int
    commits: list[tuple[int, int, list[OutMessage]]] = field(default_factory=list)

    async def commit(
        self, tp: TopicPartition, messages: list[OutMessage], first: int, next_offset: int
    ) -> bool:
        if any(m.size() > self.limit for m in messages):
            raise OutputRefused(MessageSizeTooLargeError())
        self.commits.append((first, next_offset, messages))
        return True


def _inputs(ready: ReadyPipeline, notice: Any, first: int = 0) -> list[Message]:
    """Three notices as their units publish them (signed, sealed to the broker), at offsets
    from ``first`` (a later batch: other notices)."""
    docs = [notice("threat"), notice("recruited"), notice("robbery")]
    out = []
    for i, d in enumerate(docs, start=first):
        if first:
            d["notice_id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{d['notice_id']}/{i}"))
        headers, value = ready.publish(json.dumps(d).encode(), ready.headers(d))
        out.append(Message(value, headers, i))
    return out


def test_a_batch_commits_in_one_transaction(ready: ReadyPipeline, notice: Any) -> None:
    """Nothing refused: one commit covers the whole batch's offsets."""
    committer = RefusingCommitter(limit=10**9)
    msgs = _inputs(ready, notice)
    asyncio.run(
        decide_and_commit(committer, ready.pipeline, TP, [Input.read(m) for m in msgs], 0.0)
    )
    assert [(a, b) for a, b, _ in committer.commits] == [(0, 3)]


def test_an_input_whose_outputs_kafka_refuses_is_dead_lettered_alone(
    ready: ReadyPipeline, notice: Any
) -> None:
    """One input's delivery is too large for Kafka: the batch is committed input by input,
    that input as a reference dead letter (output-refused) with its audit record, the others
    as decided; every offset is committed once, in order."""
    msgs = _inputs(ready, notice)
    sizes = [
        max(
            m.size()
            for m in ready.pipeline.process(
                x.value, x.headers, Source(x.topic, x.partition, x.offset)
            ).messages()
        )
        for x in msgs
    ]
    limit = sorted(sizes)[1]  # the input with the largest output is refused
    refused = sizes.index(max(sizes))
    committer = RefusingCommitter(limit=limit)
    asyncio.run(
        decide_and_commit(committer, ready.pipeline, TP, [Input.read(m) for m in msgs], 0.0)
    )
    assert [(a, b) for a, b, _ in committer.commits] == [(0, 1), (1, 2), (2, 3)]
    first, _, out = committer.commits[refused]
    audits = [json.loads(m.value) for m in out if m.topic == "t.audit"]
    assert [a["event"] for a in audits] == ["dead-letter"]
    assert audits[0]["reasons"][0].startswith("output-refused: (output): Kafka refused it: ")
    assert first == refused


def test_when_even_the_reference_is_refused_the_worker_stops_loudly(
    ready: ReadyPipeline, notice: Any
) -> None:
    """If Kafka refuses even a dead letter and its audit record, nothing is committed past the
    input: CommitImpossible, which stops the worker."""
    committer = RefusingCommitter(limit=10)
    with pytest.raises(CommitImpossible):
        asyncio.run(
            decide_and_commit(
                committer, ready.pipeline, TP, [Input.read(m) for m in _inputs(ready, notice)], 0.0
            )
        )
    assert committer.commits == []


def _batch_keys(messages: list[OutMessage]) -> dict[str, set[str]]:
    """Each delivery topic's sealed batch keys."""
    found: dict[str, set[str]] = {}
    for m in messages:
        doc = json.loads(m.value)
        if doc.get("sealed") == 2:
            found.setdefault(m.topic, set()).add(doc["batch_key"])
    return found


def test_a_batch_seals_one_batch_key_per_organisation(ready: ReadyPipeline, notice: Any) -> None:
    """The deliveries of one transaction to one organisation share its batch key (one key
    encapsulation); each organisation has its own, and the next batch new ones."""
    committer = RefusingCommitter(limit=10**9)
    msgs = _inputs(ready, notice)
    asyncio.run(
        decide_and_commit(committer, ready.pipeline, TP, [Input.read(m) for m in msgs], 0.0)
    )
    [(_, _, batch)] = committer.commits
    keys = _batch_keys(batch)
    deliveries = [m for m in batch if json.loads(m.value).get("sealed") == 2]
    assert len(deliveries) > len(keys) >= 2, "some organisation should get two deliveries"
    assert all(len(k) == 1 for k in keys.values())
    assert len(set().union(*keys.values())) == len(keys)  # none shared by two organisations
    for m in deliveries:  # and each still opens as its organisation reads it
        assert ready.open(m)["delivery_id"] == dict(m.headers)["ce_id"].decode()
    again = _inputs(ready, notice, first=3)
    asyncio.run(
        decide_and_commit(committer, ready.pipeline, TP, [Input.read(m) for m in again], 0.0)
    )
    later = _batch_keys(committer.commits[-1][2])
    assert later, "the second batch's notices are new ones: they are delivered too"
    assert not set().union(*later.values()) & set().union(*keys.values())
