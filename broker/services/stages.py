"""What the worker's two agents do with a batch of one partition's inputs, and how it commits.

Route (stage 1): each input of the notices topic is forwarded to the routed topic on the
partition of the child's key it claims (broker.core.repartition.forward), or, if it can be no
notice at all (unreadable, no value, bad headers), decided where it was read, as its dead
letter. Decide
(stage 2): each routed input is decided by the pipeline with its route, so the replay guard of
the one partition that owns its id claims it. Every commit is the committer's (one Kafka
transaction per batch and input partition, with the input offset); if Kafka refuses an output,
the batch is committed input by input, and an input whose own outputs are refused becomes a
dead letter by reference: it never holds back the others, and nothing is committed past an
input without its audit record.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from aiokafka.structs import TopicPartition

from broker.adapters import metrics
from broker.adapters.kafka.transactions import CommitImpossible, OutputRefused
from broker.core import envelope, repartition
from broker.core.crypto import sealing
from broker.core.pipeline import OutMessage, Pipeline, Result, Source

log = structlog.get_logger(__name__)


class Commits(Protocol):
    """What a stage needs of the committer (broker.adapters.kafka.transactions.Committer)."""

    async def commit(
        self, tp: TopicPartition, messages: list[OutMessage], first: int, next_offset: int
    ) -> bool: ...


class Floors(Commits, Protocol):
    async def floor(self, tp: TopicPartition) -> int: ...


@dataclass(frozen=True)
class Input:
    """One input to decide: its bytes, where it was first read (what its audit record names),
    its offset on the partition being committed, and its route (stage 2 only)."""

    value: bytes | None
    headers: envelope.RawHeaders
    source: Source
    offset: int
    route: repartition.Route | None = None
    key: bytes | None = None  # the Kafka key it was published with (stage 1 routes by it)

    @classmethod
    def read(cls, msg: Any) -> Input:
        """A message read where it was published (stage 1, tests)."""
        source = Source(msg.topic, msg.partition, msg.offset)
        return cls(msg.value, msg.headers, source, msg.offset, key=msg.key)

    @classmethod
    def routed(cls, msg: Any, partitions: int) -> Input:
        """A message of the routed topic: its origin and route from stage 1's header."""
        found = repartition.receive(
            Source(msg.topic, msg.partition, msg.offset), msg.key, msg.headers, partitions
        )
        return cls(msg.value, found.headers, found.source, msg.offset, found.route)


async def by_partition(
    committer: Floors,
    msgs: list[Any],
    stage: Callable[[TopicPartition, list[Any], float], Awaitable[None]],
) -> None:
    """Run ``stage`` on a batch of Faust messages, partition by partition; inputs below a
    partition's floor are committed already and skipped."""
    started = time.monotonic()
    by_tp: dict[TopicPartition, list[Any]] = defaultdict(list)
    for msg in msgs:
        by_tp[TopicPartition(msg.topic, msg.partition)].append(msg)
    for tp, batch in by_tp.items():
        floor = await committer.floor(tp)
        fresh = [m for m in batch if m.offset >= floor]
        if fresh:
            await stage(tp, fresh, started)


async def route_and_commit(
    committer: Commits,
    pipeline: Pipeline,
    tp: TopicPartition,
    msgs: list[Any],
    started: float,
    *,
    topic: str,
    partitions: int,
) -> None:
    """Stage 1: forward a batch of one notices partition to the routed topic (or dead-letter
    what can be no notice) and commit it."""
    inputs = [Input.read(m) for m in msgs]
    forwards = [
        repartition.forward(i.value, i.headers, i.source, topic, partitions, key=i.key)
        for i in inputs
    ]
    results: dict[int, Result] = {
        n: pipeline.process(i.value, i.headers, i.source)
        for n, (i, f) in enumerate(zip(inputs, forwards, strict=True))
        if f is None
    }
    outputs = [[f] if f is not None else results[n].messages() for n, f in enumerate(forwards)]

    def refuse(n: int, error_class: str) -> list[OutMessage]:
        results[n] = pipeline.refused(inputs[n].value, inputs[n].source, error_class)
        return results[n].messages()

    done = await commit_inputs(committer, tp, [i.offset for i in inputs], outputs, refuse)
    observed = [n for n in done if n in results]
    _observe_all([inputs[n].source for n in observed], [results[n] for n in observed], started)


async def decide_and_commit(
    committer: Commits, pipeline: Pipeline, tp: TopicPartition, inputs: list[Input], started: float
) -> None:
    """Stage 2 (and any input decided where it is read): decide a batch of one partition's
    inputs and commit it."""
    batch = sealing.SealBatch()  # one key encapsulation per organisation for the batch
    results = [pipeline.process(i.value, i.headers, i.source, i.route, batch) for i in inputs]

    def refuse(n: int, error_class: str) -> list[OutMessage]:
        results[n] = pipeline.refused(inputs[n].value, inputs[n].source, error_class)
        return results[n].messages()

    outputs = [r.messages() for r in results]
    done = await commit_inputs(committer, tp, [i.offset for i in inputs], outputs, refuse)
    _observe_all([inputs[n].source for n in done], [results[n] for n in done], started)


async def commit_inputs(
    committer: Commits,
    tp: TopicPartition,
    offsets: list[int],
    outputs: list[list[OutMessage]],
    refuse: Callable[[int, str], list[OutMessage]],
) -> list[int]:
    """Commit the inputs at ``offsets`` with their ``outputs``: in one transaction, or, if
    Kafka refuses an output, input by input, an input whose outputs are refused with
    ``refuse(n, error class)`` instead. Returns the indices committed, in order (fewer if
    another worker took the partition over)."""
    try:
        everything = [m for out in outputs for m in out]
        if await committer.commit(tp, everything, offsets[0], offsets[-1] + 1):
            return list(range(len(offsets)))
        return []
    except OutputRefused:
        log.warning("worker.batch_refused", partition=tp.partition, inputs=len(offsets))
    done: list[int] = []
    for n, offset in enumerate(offsets):
        try:
            ok = await committer.commit(tp, outputs[n], offset, offset + 1)
        except OutputRefused as refused:
            try:
                ok = await committer.commit(tp, refuse(n, refused.error_class), offset, offset + 1)
            except OutputRefused as again:  # even the reference and its audit record
                raise CommitImpossible(again.error_class) from None
        if not ok:
            return done
        done.append(n)
    return done


def _observe_all(sources: list[Source], results: list[Result], started: float) -> None:
    for src, r in zip(sources, results, strict=True):
        _observe(r, src, started)
    metrics.RECEIVED.inc(len(results))


def _observe(result: Result, source: Source, started: float) -> None:
    """Metrics and one log line per input: ids, recipients, codes; never a field value."""
    if result.error:
        metrics.DEAD_LETTERED.labels(code=result.error.code).inc()
        log.warning(
            "notice.dead_lettered",
            code=result.error.code,
            source=str(source),
            fields=[p.field for p in result.error.problems],
        )
        return
    for d in result.decisions:
        metrics.DECISIONS.labels(recipient=d.recipient, outcome=d.outcome.value).inc()
    metrics.LATENCY.observe(time.monotonic() - started)
    first = result.decisions[0]
    log.info(
        "notice.decided",
        notice_id=str(first.notice_id),
        notice_type=first.notice_type,
        policy_version=first.policy_version[:19],
        decisions={d.recipient: d.outcome.value for d in result.decisions},
        rules={d.recipient: d.rule_id for d in result.decisions if d.rule_id},
    )
