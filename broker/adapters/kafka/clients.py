"""Kafka I/O for the commands (the worker's I/O is Faust's): topics, producing, consuming."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError

from broker.adapters.settings import Settings
from broker.core.deployment.acl import Principals
from broker.core.deployment.topics import TopicSpec
from broker.core.pipeline import OutMessage

log = structlog.get_logger(__name__)


def client_options(
    principal: str | None = None, options: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """aiokafka keyword arguments for ``principal`` under the configured profile
    (BROKER_KAFKA_PROFILE): nothing extra for plaintext, a client certificate for secure.
    Without a principal: the admin (operators' and tests' tools)."""
    if options is not None:
        return dict(options)
    return Settings.from_env().kafka.options(principal or Principals().admin)


async def wait_for_kafka(
    bootstrap: str,
    timeout: float | None = 60.0,
    options: Mapping[str, Any] | None = None,
    principal: str | None = None,
) -> None:
    """Return once the broker answers a metadata request; warn while it does not.
    ``timeout=None`` waits for ever (the worker may start before Kafka)."""
    deadline = time.monotonic() + (timeout if timeout is not None else float("inf"))
    while True:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap,
            request_timeout_ms=5000,
            **client_options(principal, options),
        )
        try:
            await admin.start()
            await admin.describe_cluster()
            return
        except (KafkaConnectionError, KafkaError, OSError) as exc:
            if time.monotonic() > deadline:
                raise
            log.warning("kafka.waiting", bootstrap=bootstrap, error=type(exc).__name__)
            await asyncio.sleep(1.0)
        finally:
            await admin.close()


async def ensure_topics(
    bootstrap: str,
    specs: Iterable[TopicSpec],
    options: Mapping[str, Any] | None = None,
    principal: str | None = None,
) -> list[str]:
    """Create the topics that are missing; return the names created. Existing ones are kept."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_options(principal, options))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = [
            NewTopic(s.name, s.partitions, 1, topic_configs=s.config)
            for s in specs
            if s.name not in existing
        ]
        if new:
            await admin.create_topics(new)
        return [t.name for t in new]
    finally:
        await admin.close()


@asynccontextmanager
async def producer(
    bootstrap: str, options: Mapping[str, Any] | None = None, principal: str | None = None
) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        **client_options(principal, options),
    )
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


async def send_all(p: AIOKafkaProducer, messages: Iterable[OutMessage]) -> None:
    """Send and wait until the broker has acknowledged every message."""
    futures = [
        await p.send(m.topic, m.value, key=m.key, headers=list(m.headers), partition=m.partition)
        for m in messages
    ]
    await asyncio.gather(*futures)


async def consume(
    bootstrap: str,
    topics: list[str],
    *,
    from_beginning: bool = True,
    idle_timeout: float | None = None,
    group_id: str | None = None,
    options: Mapping[str, Any] | None = None,
    principal: str | None = None,
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Yield records; stop after ``idle_timeout`` seconds without one (None: run forever)."""
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=group_id,
        auto_offset_reset="earliest" if from_beginning else "latest",
        enable_auto_commit=group_id is not None,
        isolation_level="read_committed",
        **client_options(principal, options),
    )
    await consumer.start()
    last = time.monotonic()
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=500, max_records=500)
            if not batch:
                if idle_timeout is not None and time.monotonic() - last > idle_timeout:
                    return
                continue
            last = time.monotonic()
            for records in batch.values():
                for record in records:
                    yield record
    finally:
        await consumer.stop()
