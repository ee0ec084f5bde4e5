"""Only the worker steers the worker: what the audit log's other writers put there changes
nothing after a restart, a corrupt record of the worker's own state is skipped with a warning
and an audit record, and the replay guard survives the restart."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from broker.adapters.kafka.clients import consume, producer, send_all
from broker.adapters.settings import Settings
from broker.core.deployment.acl import Principals
from broker.core.notices import NOTICE_SENDERS
from broker.core.pipeline import AUDIT_TYPE, OutMessage
from broker.services.local import WorkerProcess, create_topics
from broker.testing.processes import encode, fresh_settings, synthetic_notices

pytestmark = pytest.mark.integration
POLICE = {t for t, sender in NOTICE_SENDERS.items() if sender == "police"}


def _notices(s: Settings, n: int, seed: int) -> tuple[list[str], list[OutMessage]]:
    """``n`` police notices about different children (so on every partition)."""
    docs = [d for d in synthetic_notices(4 * n, seed=seed) if d["notice_type"] in POLICE][:n]
    return [d["notice_id"] for d in docs], [encode(d, s) for d in docs]


def _audit(s: Settings, ids: set[str], replays: int = 0) -> list[dict[str, Any]]:
    """Audit records (read committed) once every notice of ``ids`` is decided and ``replays``
    replays are refused, or after 60 s."""

    async def go() -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        deadline = time.monotonic() + 60
        async for r in consume(s.bootstrap, [s.topics.audit], idle_timeout=10):
            if dict(r.headers).get("ce_type") == AUDIT_TYPE.encode():
                out.append(json.loads(r.value))
            decided = {d.get("notice_id") for d in out if d.get("event") == "decision"}
            refused = [
                d
                for d in out
                if d.get("event") == "dead-letter" and d["reasons"][0].startswith("notice-replayed")
            ]
            if ids <= decided and len(refused) >= replays:
                break
            if time.monotonic() > deadline:
                break
        return out

    return asyncio.run(go())


def _publish(s: Settings, messages: list[OutMessage], principal: str) -> None:
    async def go() -> None:
        async with producer(s.bootstrap, principal=principal) as p:
            await send_all(p, messages)

    asyncio.run(go())


def test_other_writers_cannot_steer_the_worker_and_corrupt_state_is_skipped(
    kafka: str, tmp_path: Path
) -> None:
    """A reviewer's forged audit records (a far-off 'source' for partition 0, and bytes that
    are not JSON) and a corrupt record on the worker's progress topic: after a restart the
    worker starts at once, audits the corrupt record, decides new notices on every partition,
    and still refuses a notice replayed from before the restart."""
    base = dataclasses.replace(Settings.from_env(), bootstrap=kafka, state_dir=tmp_path / "state")
    s = fresh_settings(base, tag="state")
    create_topics(s)
    who = Principals()
    worker = WorkerProcess(s, tmp_path / "worker.log")
    worker.start()
    try:
        first_ids, first = _notices(s, 6, seed=1)
        _publish(s, first, who.publisher("police"))
        before = _audit(s, set(first_ids))
        assert {d["notice_id"] for d in before if d["event"] == "decision"} == set(first_ids)

        forged = json.dumps(
            {
                "event": "decision",
                "notice_id": str(uuid.uuid4()),
                "source": f"{s.topics.notices}/0/1000000000",
                "recorded_at": "2026-12-01T00:00:00+00:00",
            }
        ).encode()
        _publish(
            s,
            [
                OutMessage(s.topics.audit, None, forged, (("ce_type", AUDIT_TYPE.encode()),)),
                OutMessage(s.topics.audit, None, b"\xff not json", ()),
            ],
            who.reviewer,
        )
        # a fault on the worker's own topic (only the worker, or an operator, can write it)
        for partition in range(3):
            junk = OutMessage(
                s.topics.progress, b"floor", b"{not a progress record", (), partition=partition
            )
            _publish(s, [junk], who.admin)
        assert worker.stop() == 0

        worker.start(timeout=60)  # no stall, whatever the audit log holds
        second_ids, second = _notices(s, 12, seed=2)
        _publish(s, [*second, first[0]], who.publisher("police"))  # first[0] again: a replay
        after = _audit(s, set(second_ids), replays=1)
    finally:
        worker.stop()
    log = worker.log()
    assert log.count("worker.progress_corrupt") >= 1
    decided = {d["notice_id"] for d in after if d["event"] == "decision"}
    assert set(second_ids) <= decided
    partitions = {
        d["source"].rsplit("/", 2)[1]
        for d in after
        if d["event"] == "decision" and d["notice_id"] in second_ids
    }
    assert "0" in partitions  # partition 0 was not skipped
    replays = [
        d
        for d in after
        if d["event"] == "dead-letter" and d["reasons"][0].startswith("notice-replayed")
    ]
    assert len(replays) == 1
    state = [d for d in after if d["event"] == "worker-state"]
    assert state
    assert all(d["source"].startswith(f"{s.topics.progress}/") for d in state)
