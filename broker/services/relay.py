"""The receipts relay (`broker audit relay-receipts`): copies recipients' receipts into the audit
log, signed as the relay's, so the access log (delivered → received → opened) is audited too.

A composition root: `build` loads the relay's audit-writer key and the organisations from the
directory, `Relay.run` consumes every receipts topic as one consumer group and writes each batch
to the audit topic before committing the receipts' offsets (at least once). The organisation is
the one whose receipts topic the receipt came from (never what the message says); the event
names it and the role it fills. A receipt that is not valid is not dropped: a receipt-rejected
audit event names the organisation, the field and the reason.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from broker.adapters.kafka.clients import ensure_topics, group_consumer, producer, send_all
from broker.adapters.policy_files import load_directory, load_policy
from broker.adapters.settings import Settings
from broker.adapters.stores import keyfiles
from broker.adapters.stores.keyfiles import load_registry
from broker.core.audit import AuditError, ce_headers, writers
from broker.core.audit.access import AUDIT_RECEIPT_TYPE, audit_event
from broker.core.audit.events import canonical
from broker.core.crypto import refs
from broker.core.crypto.registry import SigningKey
from broker.core.deployment.acl import Principals
from broker.core.deployment.topics import SHORT_LIVED, TopicSpec
from broker.core.directory import Organisation
from broker.core.pipeline import OutMessage
from broker.core.times import utc_z


def rejected(
    value: bytes, organisation: Organisation, source: str, now: datetime, exc: Exception
) -> tuple[str, bytes]:
    """(record id, value) of the audit event for a receipt that is not valid."""
    digest = refs.sha256_hex(value)
    rid = refs.stable_id("receipt-rejected", source, digest)
    return rid, canonical(
        {
            "record_id": rid,
            "event": "receipt-rejected",
            "recorded_at": utc_z(now, "auto"),
            "recipient": organisation.kind,
            "organisation": organisation.id,
            "source": source,
            "reasons": [str(exc)],
            "input_sha256": digest,
        }
    )


@dataclass(frozen=True)
class Relay:
    settings: Settings
    topics: dict[str, Organisation]  # receipts topic -> the organisation it belongs to
    key: SigningKey  # signs every relayed receipt as the relay's

    def relayed(self, record: Any, now: datetime) -> OutMessage:
        """The audit message for one consumed receipt (a receipt or a receipt-rejected event)."""
        organisation = self.topics[record.topic]
        source = f"{record.topic}/{record.partition}/{record.offset}"
        try:
            rid, value = audit_event(record.value or b"", organisation, source, now)
        except AuditError as exc:
            rid, value = rejected(record.value or b"", organisation, source, now, exc)
        headers = writers.sign(ce_headers(AUDIT_RECEIPT_TYPE, rid, now), value, self.key)
        return OutMessage(self.settings.topics.audit, None, value, headers)

    def run(self, idle_timeout: float | None = None) -> int:
        """Relay until idle for ``idle_timeout`` seconds (None: forever); return how many."""
        return asyncio.run(self._relay(idle_timeout))

    async def _relay(self, idle_timeout: float | None) -> int:
        s, relay, n = self.settings, Principals().relay, 0
        specs = [TopicSpec(t, 1, dict(SHORT_LIVED), replication=s.replication) for t in self.topics]
        await ensure_topics(s.bootstrap, specs, principal=relay)
        group = f"{s.app_id}-receipts-relay"
        async with (
            group_consumer(s, self.topics, group, relay) as consumer,
            producer(s.bootstrap, principal=relay) as p,
        ):
            last = asyncio.get_running_loop().time()
            while True:
                batch = await consumer.getmany(timeout_ms=500, max_records=500)
                records = [r for rs in batch.values() for r in rs]
                now_loop = asyncio.get_running_loop().time()
                if not records:
                    if idle_timeout is not None and now_loop - last > idle_timeout:
                        return n
                    continue
                last = now_loop
                now = datetime.now(UTC)
                # in the audit log before the receipts' offsets are committed: at least once
                await send_all(p, [self.relayed(r, now) for r in records])
                await consumer.commit()
                n += len(records)


def build(s: Settings) -> Relay:
    """The relay with its key and the organisations' receipts topics (a missing key:
    ConfigError)."""
    paths = s.key_paths()
    key = keyfiles.writer_key(paths, load_registry(paths.registry), writers.RELAY)
    directory = load_directory(load_policy(s.policy_dir))
    topics = {s.topics.receipts(o.id): o for _, o in sorted(directory.organisations.items())}
    return Relay(s, topics, key)
