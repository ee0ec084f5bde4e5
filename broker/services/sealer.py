"""The sealer process (`broker audit seal`): follows the audit topic in order and publishes a signed
checkpoint every N records or T seconds, each appended to the witness file first.

A composition root: `build` loads the checkpoint-signing key, the sealer's audit-writer key and
the witness file, and `Service.run` drives broker.core.audit.Sealer (pure: add, due, seal) over
the topic as it is read. Run one sealer per audit topic. It re-reads the topic from the start,
verifying every checkpoint already there and the witness file, and refuses (AuditError) to seal
a log that does not verify.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from broker.adapters.kafka import auditlog
from broker.adapters.kafka.clients import ensure_topics, producer, send_all, wait_for_kafka
from broker.adapters.settings import Settings
from broker.adapters.stores import auditfiles, keyfiles, sealkey
from broker.adapters.stores.keyfiles import load_registry
from broker.core.audit import CHECKPOINT_TYPE, Checkpoint, Entry, Sealer, ce_headers, writers
from broker.core.crypto.registry import SigningKey
from broker.core.deployment.acl import Principals
from broker.core.deployment.topics import topic_specs
from broker.core.pipeline import OutMessage

log = structlog.get_logger("broker.audit.seal")  # a stable name: log queries use it


@dataclass
class Loop:
    """What the shell keeps around the pure Sealer between batches of the topic."""

    sealer: Sealer
    publish: Callable[[Checkpoint], Awaitable[None]]
    once: bool = False
    caught_up: bool = field(default=False, init=False)

    async def step(self, entries: list[Entry], position: int, end: int, now: datetime) -> bool:
        """Feed one batch; seal if due once caught up. True when a --once run is done."""
        for entry in entries:
            self.sealer.add(entry)
        if not self.caught_up and position >= end:
            self.caught_up = True
            log.info("audit.sealer_ready", records=self.sealer.size, pending=self.sealer.pending)
        # --once seals whatever is pending, however recent the last checkpoint: what runs
        # next (the demo, the drills) verifies strictly
        if self.caught_up and (self.sealer.due(now) or (self.once and self.sealer.pending > 0)):
            await self.publish(self.sealer.seal(now))
        return self.once and self.caught_up


@dataclass(frozen=True)
class Service:
    settings: Settings
    sealer: Sealer
    witness: Path
    writer: SigningKey  # signs each checkpoint message as the sealer's
    once: bool

    def run(self) -> None:
        """Seal until SIGTERM or SIGINT (with --once: until caught up and sealed)."""
        asyncio.run(self._follow())

    async def _publish(self, p: Any, cp: Checkpoint) -> None:
        auditfiles.append_witness(self.witness, cp)  # on disk before it is on the topic
        headers = ce_headers(CHECKPOINT_TYPE, f"{cp.origin}/{cp.tree_size}", datetime.now(UTC))
        value = cp.to_json()
        headers = writers.sign(headers, value, self.writer)
        await send_all(p, [OutMessage(self.settings.topics.audit, None, value, headers)])
        log.info(
            "audit.sealed",
            tree_size=cp.tree_size,
            root=cp.root_hash[:16],
            added=cp.tree_size - cp.hints_from,
        )

    async def _follow(self) -> None:
        s, who, stop = self.settings, Principals().sealer, asyncio.Event()
        await wait_for_kafka(s.bootstrap, timeout=300, principal=who)
        specs = topic_specs(s.topics, replication=s.replication)
        specs = [t for t in specs if t.name == s.topics.audit]
        await ensure_topics(s.bootstrap, specs, principal=who)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with producer(s.bootstrap, principal=who) as p:
            steps = Loop(self.sealer, lambda cp: self._publish(p, cp), self.once)
            async for entries, position, end in auditlog.read(s, who, follow=True):
                done = await steps.step(entries, position, end, datetime.now(UTC))
                if stop.is_set() or done:
                    break


def build(s: Settings, *, every: int, interval: float, witness: Path | None, once: bool) -> Service:
    """The sealer with its keys and the witness's checkpoints loaded: a missing writer key is a
    ConfigError, a witness line that does not parse an auditfiles.LineError."""
    paths = s.key_paths()
    writer = keyfiles.writer_key(paths, load_registry(paths.registry), writers.SEALER)
    key = sealkey.load_or_create(auditfiles.signing_key_path(s))
    wpath = witness or auditfiles.witness_path(s)
    sealer = Sealer(
        key,
        auditfiles.origin_of(s),
        every=every,
        interval=timedelta(seconds=interval),
        witness=auditfiles.read_witness(wpath),
    )
    return Service(s, sealer, wpath, writer, once)
