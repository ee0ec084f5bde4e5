"""The one client factory: every client gets the bootstrap servers and its principal's security."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import TopicAlreadyExistsError, TopicAuthorizationFailedError

from broker.adapters.kafka.clients import (
    Connection,
    create_topics,
    new_admin,
    new_consumer,
    new_producer,
)
from broker.adapters.kafka.tls.contexts import KafkaSecurity, Profile
from broker.adapters.kafka.tls.credentials import ensure_credentials
from broker.adapters.settings import Settings
from broker.core.deployment.topics import TopicSpec
from broker.core.errors import ConfigError


def test_a_connection_is_the_principals_security_under_the_profile(tmp_path: Path) -> None:
    """Plaintext asks for nothing more; secure gives the principal's own TLS context."""
    plain = Connection.of(Settings(state_dir=tmp_path, bootstrap="k:1"), "worker")
    assert plain == Connection("k:1", {"security_protocol": "PLAINTEXT"})
    ensure_credentials(tmp_path, ["worker"], server="kafka-node")
    secure = Settings(state_dir=tmp_path, kafka=KafkaSecurity(Profile.secure, tmp_path))
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


class FakeAdmin:
    """Sees ``existing``; answers a create request with one error code per topic."""

    def __init__(self, existing: list[str], codes: dict[str, int]) -> None:
        self.existing, self.codes = existing, codes
        self.asked: list[str] = []

    async def list_topics(self) -> list[str]:
        return self.existing

    async def create_topics(self, new: list[Any]) -> Any:
        self.asked += [t.name for t in new]
        return SimpleNamespace(
            topic_errors=[(t.name, self.codes.get(t.name, 0), None) for t in new]
        )


SPECS = [TopicSpec("t.a", 1, {}), TopicSpec("t.b", 1, {})]


def test_only_missing_topics_are_created_and_a_race_is_no_error() -> None:
    """A topic seen is kept; one another process created meanwhile (36) is fine."""
    admin = FakeAdmin(["t.a"], {"t.b": TopicAlreadyExistsError.errno})
    assert asyncio.run(create_topics(admin, SPECS)) == ["t.b"]
    assert admin.asked == ["t.b"]


def test_a_refused_topic_is_an_error_only_when_checked() -> None:
    """`acl apply` must create every topic; a principal's start-up cannot see them all."""
    refused = {"t.a": TopicAuthorizationFailedError.errno}
    with pytest.raises(ConfigError, match="create topic: TopicAuthorizationFailedError"):
        asyncio.run(create_topics(FakeAdmin([], refused), SPECS))
    unchecked = create_topics(FakeAdmin([], refused), SPECS, checked=False)
    assert asyncio.run(unchecked) == ["t.a", "t.b"]
