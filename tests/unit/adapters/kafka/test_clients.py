"""The one client factory: every client gets the bootstrap servers and its principal's security."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from broker.adapters.kafka.clients import Connection, new_admin, new_consumer, new_producer
from broker.adapters.kafka.security import KafkaSecurity, Profile, ensure_credentials
from broker.adapters.settings import Settings


def test_a_connection_is_the_principals_security_under_the_profile(tmp_path: Path) -> None:
    """Plaintext asks for nothing more; secure gives the principal's own TLS context."""
    plain = Connection.of(Settings(bootstrap="k:1"), "worker")
    assert plain == Connection("k:1", {"security_protocol": "PLAINTEXT"})
    ensure_credentials(tmp_path, ["worker"], server="kafka-node")
    secure = Settings(kafka=KafkaSecurity(Profile.secure, tmp_path))
    options = Connection.of(secure, "worker").security
    assert options["security_protocol"] == "SSL"
    assert options["ssl_context"].verify_mode.name == "CERT_REQUIRED"


def test_each_kind_of_client_is_built_from_the_connection() -> None:
    """Consumer, producer and admin client: the same servers, plus what the caller asked for."""
    conn = Connection("127.0.0.1:1", {"security_protocol": "PLAINTEXT"})

    async def build() -> None:  # aiokafka's clients want a running loop; none is started
        consumer = new_consumer(conn, "t.audit", isolation_level="read_committed")
        assert isinstance(consumer, AIOKafkaConsumer)
        assert consumer._client._bootstrap_servers == "127.0.0.1:1"
        assert consumer._isolation_level == "read_committed"
        assert consumer._client._security_protocol == "PLAINTEXT"
        producer = new_producer(conn, acks="all")
        assert isinstance(producer, AIOKafkaProducer)
        assert producer.client._bootstrap_servers == "127.0.0.1:1"
        admin = new_admin(conn, request_timeout_ms=1234)
        assert isinstance(admin, AIOKafkaAdminClient)
        assert admin._client._bootstrap_servers == "127.0.0.1:1"
        await consumer.stop()
        await producer.stop()
        await admin.close()

    asyncio.run(build())
