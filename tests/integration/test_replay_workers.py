"""One partition owns each notice id, across workers: two workers in one group, a notice, then
the same bytes on the two other input partitions at once, and a copy an insider writes to the
routed topic under another id. Exactly one decision per recipient; both replays refused as
replayed, audited, whichever worker routed and decided them; the forged route refused as
routing-key-mismatch; the audit log verifies."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import pytest

from broker.adapters.kafka.clients import consume, producer, send_all
from broker.adapters.policy_files import load_policy
from broker.adapters.settings import Settings
from broker.core.deployment.acl import Principals
from broker.core.deployment.topics import NOTICE_PARTITIONS
from broker.core.notices import NOTICE_SENDERS
from broker.core.pipeline import AUDIT_TYPE, OutMessage
from broker.core.repartition import ORIGIN_HEADER, partition_of
from broker.services.local import WorkerProcess, broker_command, create_topics
from broker.testing.processes import encode, fresh_settings, synthetic_notices

pytestmark = pytest.mark.integration
POLICE = {t for t, sender in NOTICE_SENDERS.items() if sender == "police"}
WHO = Principals()


def _police(s: Settings, n: int, seed: int) -> list[tuple[str, OutMessage]]:
    docs = [d for d in synthetic_notices(4 * n, seed=seed) if d["notice_type"] in POLICE][:n]
    return [(d["notice_id"], encode(d, s)) for d in docs]


def _publish(s: Settings, messages: list[OutMessage], principal: str) -> None:
    async def go() -> None:
        async with producer(s.bootstrap, principal=principal) as p:
            await send_all(p, messages)

    asyncio.run(go())


def _audit_until(s: Settings, done: Any, timeout: float = 90) -> list[dict[str, Any]]:
    """The audit records (read committed) once ``done(records)`` holds, or after ``timeout``."""

    async def go() -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        async for r in consume(s.bootstrap, [s.topics.audit], idle_timeout=15):
            if dict(r.headers).get("ce_type") == AUDIT_TYPE.encode():
                out.append(json.loads(r.value))
            if done(out) or time.monotonic() > deadline:
                break
        return out

    return asyncio.run(go())


def _decided(records: list[dict[str, Any]]) -> set[str]:
    return {d["notice_id"] for d in records if d["event"] == "decision"}


def _refused(records: list[dict[str, Any]], code: str) -> list[dict[str, Any]]:
    return [d for d in records if d["event"] == "dead-letter" and d["reasons"][0].startswith(code)]


def _both_deciding(s: Settings, workers: list[WorkerProcess]) -> None:
    """Warm up until each worker has decided notices (each owns routed partitions)."""
    for attempt in range(6):
        batch = _police(s, 9, seed=100 + attempt)
        _publish(s, [m for _, m in batch], WHO.publisher("police"))
        ids = {i for i, _ in batch}
        _audit_until(s, lambda out, ids=ids: ids <= _decided(out))
        if all("notice.decided" in w.log() for w in workers):
            return
        time.sleep(3)  # the group is still rebalancing
    pytest.fail("the two workers never both decided notices")


def test_a_replay_on_other_partitions_is_refused_whichever_worker_sees_it(
    kafka: str, tmp_path: Path
) -> None:
    base = dataclasses.replace(Settings.from_env(), bootstrap=kafka, state_dir=tmp_path / "state")
    s = fresh_settings(base, tag="replay")
    create_topics(s)
    recipients = len(load_policy(s.policy_dir).recipients)
    workers = [WorkerProcess(s, tmp_path / f"worker-{n}.log") for n in "ab"]
    for w in workers:
        w.start()
    try:
        _both_deciding(s, workers)
        [(notice_id, message)] = _police(s, 1, seed=7)
        _publish(s, [message], WHO.publisher("police"))
        first = _audit_until(s, lambda out: notice_id in _decided(out))
        (published_at,) = {d["source"] for d in first if d.get("notice_id") == notice_id}
        home = int(published_at.rsplit("/", 2)[1])
        others = [p for p in range(NOTICE_PARTITIONS) if p != home]
        # the same bytes on the two other input partitions, in one send: at once
        replays = [dataclasses.replace(message, partition=p) for p in others]
        _publish(s, replays, WHO.publisher("police"))
        # an insider (here the admin) writes a copy to the routed topic under another id, on
        # the partition of that id: past its own id's guard, were it not checked
        forged_id = next(
            f"forged-{i}".encode()
            for i in range(100)
            if partition_of(f"forged-{i}".encode(), NOTICE_PARTITIONS)
            != partition_of(notice_id.encode(), NOTICE_PARTITIONS)
        )
        origin = (ORIGIN_HEADER, f"{s.topics.notices}/{home}/999999".encode())
        forged = OutMessage(
            s.topics.routed,
            forged_id,
            message.value,
            (*message.headers, origin),
            partition=partition_of(forged_id, NOTICE_PARTITIONS),
        )
        _publish(s, [forged], WHO.admin)
        after = _audit_until(
            s,
            lambda out: (
                len(_refused(out, "notice-replayed")) >= 2 and _refused(out, "routing-key-mismatch")
            ),
        )
    finally:
        codes = [w.stop() for w in workers]
    assert codes == [0, 0]
    mine = [d for d in after if d.get("notice_id") == notice_id and d["event"] == "decision"]
    assert len(mine) == recipients
    assert len({d["recipient"] for d in mine}) == recipients
    assert {d["source"] for d in mine} == {published_at}
    replayed = _refused(after, "notice-replayed")
    assert sorted(int(d["source"].rsplit("/", 2)[1]) for d in replayed) == others
    (mismatch,) = _refused(after, "routing-key-mismatch")
    assert mismatch["source"] == f"{s.topics.notices}/{home}/999999"
    # which worker refused them: the one owning the notice id's routed partition
    refusing = [w for w in workers if "notice-replayed" in w.log()]
    assert len(refusing) == 1
    sealed = broker_command(s, "audit", "seal", "--once")
    verified = broker_command(s, "audit", "verify")
    assert sealed.returncode == 0, sealed.stderr
    assert verified.returncode == 0, verified.stdout + verified.stderr
