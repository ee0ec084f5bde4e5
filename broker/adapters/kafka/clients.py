"""The one place aiokafka clients are built, and what every process does with them first.

``new_consumer``, ``new_producer`` and ``new_admin`` build every consumer, producer and admin
client of the broker from a ``Connection``: the bootstrap servers and one principal's security
options (``Connection.of(settings, principal)``). Each caller adds only what its job needs
(isolation, transactions, timeouts). Around them: wait for Kafka, make the topics exist,
produce and consume for the commands. Cluster administration (ACLs) is in
broker.adapters.kafka.admin, the audit topic's reader in .auditlog, the worker's transactions
in .transactions and its own state in .progress.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError, for_code
from aiokafka.protocol.fetch import FetchRequest

from broker.adapters.settings import Settings
from broker.core.deployment.acl import Principals
from broker.core.deployment.topics import TopicSpec
from broker.core.errors import ConfigError
from broker.core.pipeline import OutMessage

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Connection:
    """Where a client connects and as whom: the bootstrap servers and the keyword arguments of
    one principal's security (nothing extra for plaintext, its client certificate for secure)."""

    bootstrap: str
    security: Mapping[str, Any]

    @classmethod
    def of(cls, settings: Settings, principal: str) -> Connection:
        """As ``principal`` (or BROKER_KAFKA_PRINCIPAL, if set) under ``settings``' profile."""
        return cls(settings.bootstrap, settings.kafka.options(principal))


def new_consumer(conn: Connection, *topics: str, **config: Any) -> AIOKafkaConsumer:
    """A consumer (not started) of ``topics`` (none: the caller assigns partitions)."""
    return AIOKafkaConsumer(*topics, bootstrap_servers=conn.bootstrap, **conn.security, **config)


def new_producer(conn: Connection, **config: Any) -> AIOKafkaProducer:
    """A producer (not started)."""
    return AIOKafkaProducer(bootstrap_servers=conn.bootstrap, **conn.security, **config)


def new_admin(conn: Connection, **config: Any) -> AIOKafkaAdminClient:
    """An admin client (not started)."""
    return AIOKafkaAdminClient(bootstrap_servers=conn.bootstrap, **conn.security, **config)


def check_errors(errors: Iterable[tuple[int, str | None]], what: str) -> None:
    """Raise ConfigError for the first error code an admin response carries."""
    for code, message in errors:
        if code:
            raise ConfigError(f"{what}: {for_code(code).__name__} {message or ''}".rstrip())


async def create_topics(
    admin: AIOKafkaAdminClient, specs: Iterable[TopicSpec], *, checked: bool = True
) -> list[str]:
    """Create the topics of ``specs`` that the admin client does not see; return their names.
    ``checked``: a refusal is a ConfigError (a topic another process created meanwhile is
    none). Unchecked, refusals are ignored: a principal sees only the topics it may describe,
    so one it may not see may well exist, and is not its to create."""
    existing = set(await admin.list_topics())
    new = [
        NewTopic(s.name, s.partitions, s.replication.factor, topic_configs=s.kafka_config)
        for s in specs
        if s.name not in existing
    ]
    if new:
        resp = await admin.create_topics(new)
        if checked:
            check_errors(
                (
                    (t[1], t[2] if len(t) > 2 else None)
                    for t in resp.topic_errors
                    if t[1] != TopicAlreadyExistsError.errno
                ),
                "create topic",
            )
    return [t.name for t in new]


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
        admin = new_admin(
            Connection(bootstrap, client_options(principal, options)), request_timeout_ms=5000
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
    """Create the topics that are missing, as far as ``principal`` may; return the names asked
    for. Existing ones are kept."""
    admin = new_admin(Connection(bootstrap, client_options(principal, options)))
    await admin.start()
    try:
        return await create_topics(admin, specs, checked=False)
    finally:
        await admin.close()


@asynccontextmanager
async def producer(
    bootstrap: str, options: Mapping[str, Any] | None = None, principal: str | None = None
) -> AsyncIterator[AIOKafkaProducer]:
    p = new_producer(
        Connection(bootstrap, client_options(principal, options)),
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
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
    consumer = new_consumer(
        Connection(bootstrap, client_options(principal, options)),
        *topics,
        group_id=group_id,
        auto_offset_reset="earliest" if from_beginning else "latest",
        enable_auto_commit=group_id is not None,
        isolation_level="read_committed",
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


@asynccontextmanager
async def group_consumer(
    settings: Settings, topics: Iterable[str], group: str, principal: str
) -> AsyncIterator[AIOKafkaConsumer]:
    """A started consumer of ``topics`` in consumer group ``group``, read committed, committing
    only when told to (from the earliest offset the group has not committed)."""
    consumer = new_consumer(
        Connection.of(settings, principal),
        *topics,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


async def fetch_partition_zero(
    bootstrap: str, options: dict[str, Any], topic: str
) -> tuple[int, bytes]:
    """The broker's answer to a Fetch of partition 0 from offset 0 by the client ``options``
    name: (error code, records; 29 is TOPIC_AUTHORIZATION_FAILED). A raw Fetch: aiokafka's
    consumer only logs a topic whose metadata it may not see. For probes of the ACLs (the
    demo, the tests), never for reading deliveries."""
    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=5000, **options)
    await client.bootstrap()
    try:
        # the partition's leader if the client may see it (a cluster's other brokers answer
        # NOT_LEADER), else any broker: the authoriser refuses before leadership matters
        metadata = await client.fetch_all_metadata()
        leader = metadata.leader_for_partition(TopicPartition(topic, 0))
        node = leader if leader is not None and leader >= 0 else None
        if node is None:
            node = next(iter(client.cluster.brokers())).nodeId
        resp = await client.send(node, FetchRequest(0, 1, 1 << 20, 1, [(topic, [(0, 0, 1 << 20)])]))
        [(name, [partition])] = resp.topics
        assert name == topic
        records = partition[-1] or b""
        return int(partition[1]), bytes(records)
    finally:
        await client.close()
