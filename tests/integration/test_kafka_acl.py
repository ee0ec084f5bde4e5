"""The secure profile on a real broker: Kafka itself refuses whatever the ACLs do not allow.

A broker of its own (deploy/kafka.sh, KAFKA_PROFILE=secure, own ports, data dir and
credentials) with the ACLs `broker acl apply` creates from policies/. Every (principal, topic,
operation) pair is tried against it, and the expectation for each comes from the recipient
registry through broker.core.deployment.acl (never a hand-written list).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
import ssl
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.client import AIOKafkaClient, CoordinationType
from aiokafka.errors import (
    CoordinatorNotAvailableError,
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    TopicAuthorizationFailedError,
    TransactionalIdAuthorizationFailed,
)

from broker.adapters.kafka.admin import apply, planned
from broker.adapters.kafka.clients import fetch_partition_zero
from broker.adapters.kafka.tls.contexts import KafkaSecurity
from broker.adapters.policy_files import load_directory, load_policy
from broker.adapters.settings import Settings
from broker.core.deployment.acl import (
    AclBinding,
    Operation,
    Principals,
    ResourceType,
    allows,
    group_prefix,
)
from broker.core.deployment.certificates import issue, make_ca
from broker.core.directory import Directory
from broker.core.notices import NOTICE_SENDERS
from broker.testing.cluster import Cluster
from broker.testing.directories import TWO_SCHOOLS_TWO_DISTRICTS, policy_dir_with
from tests.conftest import POLICIES, ROOT
from tests.integration.conftest import kafka_nodes, secure_cluster

pytestmark = pytest.mark.integration

KAFKA_SH = ROOT / "deploy" / "kafka.sh"
PRINCIPALS = Principals()
TOPIC_AUTHORIZATION_FAILED = 29


@dataclasses.dataclass
class Secure:
    bootstrap: str
    settings: Settings
    security: KafkaSecurity
    acls: list[AclBinding]
    topics: list[str]
    principals: list[str]  # every client principal except the admin (a super user)
    cluster: Cluster

    def options(self, principal: str) -> dict[str, Any]:
        return self.security.options(principal)

    def allowed(self, principal: str, rtype: ResourceType, name: str, op: Operation) -> bool:
        return allows(self.acls, principal, rtype, name, op)


def _kafka(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(KAFKA_SH), command], env=env, capture_output=True, text=True, check=False
    )


async def _seed(secure: Secure) -> None:
    """One record in partition 0 of every topic, written by the admin, so reads have data."""
    p = AIOKafkaProducer(bootstrap_servers=secure.bootstrap, **secure.options(PRINCIPALS.admin))
    await p.start()
    try:
        # with a key: a compacted topic (the worker's progress) refuses a record without one
        await asyncio.gather(
            *[p.send_and_wait(t, b"seed", key=b"seed", partition=0) for t in secure.topics]
        )
    finally:
        await p.stop()


@pytest.fixture(scope="session")
def secure_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secure]:
    """A secure-profile Kafka of its own (one node, or three with BROKER_TEST_KAFKA_NODES=3),
    with the ACLs applied; stopped afterwards."""
    base = tmp_path_factory.mktemp("kafka-secure")
    nodes = kafka_nodes()
    # two schools and two districts (and one organisation for each other role): each its own
    # principal, certificate, delivery and receipts topic (kafka.sh makes a certificate for each)
    policy_dir = policy_dir_with(POLICIES, base / "policies", TWO_SCHOOLS_TWO_DISTRICTS)
    cluster = secure_cluster(base, policy_dir, nodes)
    cluster.start()
    try:
        prefix = f"acl-{uuid.uuid4().hex[:8]}."
        settings = dataclasses.replace(
            cluster.settings(Settings.from_env()),
            topic_prefix=prefix,
            app_id=f"{prefix}broker",
            policies=policy_dir,
        )
        security = cluster.security()
        acls, specs = planned(settings)
        asyncio.run(apply(settings.bootstrap, security, acls, specs, prefix=prefix))
        organisations = _directory(settings).organisations
        secure = Secure(
            settings.bootstrap,
            settings,
            security,
            acls,
            [s.name for s in specs],
            [p for p in PRINCIPALS.clients(organisations) if p != PRINCIPALS.admin],
            cluster,
        )
        asyncio.run(_seed(secure))
        yield secure
    finally:
        cluster.stop()


def _directory(settings: Settings) -> Directory:
    return load_directory(load_policy(settings.policy_dir))


def test_topics_cover_every_organisation(secure_kafka: Secure) -> None:
    """The probed topics include each organisation's delivery and receipts topic: two
    schools, two districts' child welfare services and one organisation per other role."""
    names = secure_kafka.settings.topics
    directory = _directory(secure_kafka.settings)
    assert sorted(directory.organisations) == sorted(TWO_SCHOOLS_TWO_DISTRICTS)
    for org, topic in directory.topics.items():
        assert names.delivery(topic) in secure_kafka.topics
        assert names.receipts(org) in secure_kafka.topics
    assert {names.notices, names.audit, names.dead_letter} <= set(secure_kafka.topics)


async def _write(secure: Secure, principal: str, topic: str) -> str:
    p = AIOKafkaProducer(
        bootstrap_servers=secure.bootstrap,
        acks=1,
        request_timeout_ms=5000,
        **secure.options(principal),
    )
    await p.start()
    try:
        await p.send_and_wait(topic, b"probe", key=b"probe", partition=0)  # keyed: compaction
        return "ok"
    except TopicAuthorizationFailedError:
        return "refused"
    finally:
        await p.stop()


@pytest.mark.parametrize(
    "principal", [*PRINCIPALS.publishers(), PRINCIPALS.worker, PRINCIPALS.auditor]
)
async def test_fixed_principals_write_only_where_allowed(
    secure_kafka: Secure, principal: str
) -> None:
    """Each sender class's publisher, the worker and the auditor: every topic's produce is
    refused unless an ACL allows it."""
    await _check_writes(secure_kafka, principal)


def test_every_publisher_principal_is_probed(secure_kafka: Secure) -> None:
    """The read, group and transaction matrices below cover each sender class's principal,
    and no client is the single 'police' principal every class once shared."""
    classes = sorted(set(NOTICE_SENDERS.values()))
    assert {f"publisher.{c}" for c in classes} <= set(secure_kafka.principals)
    assert "police" not in secure_kafka.principals


async def test_a_school_publishes_notices_and_cannot_read_them(secure_kafka: Secure) -> None:
    """publisher.school writes the notices topic, and Kafka refuses it a read of it (a
    school cannot see police notices on Kafka, sealed or not)."""
    s = secure_kafka
    school = PRINCIPALS.publisher("school")
    assert await _write(s, school, s.settings.topics.notices) == "ok"
    error, records = await _fetch_error(s, school, s.settings.topics.notices)
    assert error == TOPIC_AUTHORIZATION_FAILED
    assert records == b""


async def test_recipients_write_only_their_receipts(secure_kafka: Secure) -> None:
    """Every organisation's principal: produce to any topic but its receipts topic is refused."""
    directory = _directory(secure_kafka.settings)
    recipients = [p for p in secure_kafka.principals if p.startswith("recipient.")]
    assert recipients == sorted(PRINCIPALS.recipient(o) for o in directory.organisations)
    for principal in recipients:
        await _check_writes(secure_kafka, principal)


async def _check_writes(secure: Secure, principal: str) -> None:
    results = await asyncio.gather(*[_write(secure, principal, t) for t in secure.topics])
    observed = dict(zip(secure.topics, results, strict=True))
    expected = {
        t: "ok" if secure.allowed(principal, ResourceType.TOPIC, t, Operation.WRITE) else "refused"
        for t in secure.topics
    }
    assert observed == expected
    assert "refused" in observed.values()  # nobody may write everywhere


async def _fetch_error(secure: Secure, principal: str, topic: str) -> tuple[int, bytes]:
    return await fetch_partition_zero(secure.bootstrap, secure.options(principal), topic)


async def test_every_read_is_refused_unless_allowed(secure_kafka: Secure) -> None:
    """Every (principal, topic) Fetch: refused (TOPIC_AUTHORIZATION_FAILED) unless allowed,
    and an allowed one returns the record written there."""
    s = secure_kafka
    pairs = [(p, t) for p in s.principals for t in s.topics]
    # hundreds of mutual-TLS handshakes at once time out on a loaded two-core machine; twenty
    # at a time keeps the test about Kafka's answers, not about the machine's load
    at_once = asyncio.Semaphore(20)

    async def fetch(principal: str, topic: str) -> tuple[int, bytes]:
        async with at_once:
            return await _fetch_error(s, principal, topic)

    answers = await asyncio.gather(*[fetch(p, t) for p, t in pairs])
    wrong = []
    for (principal, topic), (error, records) in zip(pairs, answers, strict=True):
        if s.allowed(principal, ResourceType.TOPIC, topic, Operation.READ):
            if error != 0 or b"seed" not in records:
                wrong.append((principal, topic, f"allowed but error {error}"))
        elif error != TOPIC_AUTHORIZATION_FAILED:
            wrong.append((principal, topic, f"forbidden but error {error}"))
    assert wrong == []
    refused = sum(not s.allowed(p, ResourceType.TOPIC, t, Operation.READ) for p, t in pairs)
    assert refused > len(pairs) // 2  # the matrix is mostly "no"


async def test_each_organisation_reads_only_its_own_delivery_topic(secure_kafka: Secure) -> None:
    """Read straight from the directory: an organisation gets its own topic, no other's; a
    school not the other school's, a district's service not the other district's."""
    s = secure_kafka
    topics = _directory(s.settings).topics
    for mine in topics:
        for other, topic in topics.items():
            name = s.settings.topics.delivery(topic)
            error, _ = await _fetch_error(s, PRINCIPALS.recipient(mine), name)
            assert (error == 0) is (mine == other), (mine, name, error)


async def _find_coordinator(
    secure: Secure, principal: str, kind: CoordinationType, key: str
) -> str:
    client = AIOKafkaClient(
        bootstrap_servers=secure.bootstrap, request_timeout_ms=5000, **secure.options(principal)
    )
    await client.bootstrap()
    try:
        for _ in range(50):  # a fresh cluster creates its coordinator topics on first use
            try:
                await client.coordinator_lookup(kind, key)
                return "ok"
            except CoordinatorNotAvailableError:
                await asyncio.sleep(0.2)
        raise AssertionError(f"no coordinator for {key}")
    except (GroupAuthorizationFailedError, TransactionalIdAuthorizationFailed):
        return "refused"
    finally:
        await client.close()


async def test_consumer_groups_only_under_own_prefix(secure_kafka: Secure) -> None:
    """Using any principal's group prefix or the worker's group is refused to all others."""
    s = secure_kafka
    names = s.settings.topics
    groups = [f"{group_prefix(names, p)}probe" for p in s.principals] + [s.settings.app_id]
    pairs = [(p, g) for p in s.principals for g in groups]
    results = await asyncio.gather(
        *[_find_coordinator(s, p, CoordinationType.GROUP, g) for p, g in pairs]
    )
    observed = dict(zip(pairs, results, strict=True))
    expected = {
        (p, g): "ok" if s.allowed(p, ResourceType.GROUP, g, Operation.DESCRIBE) else "refused"
        for p, g in pairs
    }
    assert observed == expected
    assert observed[(PRINCIPALS.worker, s.settings.app_id)] == "ok"


async def test_recipient_commits_offsets_in_its_own_group(secure_kafka: Secure) -> None:
    """A recipient can commit in its own group and is refused another recipient's."""
    s = secure_kafka
    names = s.settings.topics
    principal = PRINCIPALS.recipient("skole-9001")
    tp = TopicPartition(names.delivery(_directory(s.settings).topics["skole-9001"]), 0)

    async def commit(group: str) -> None:
        c = AIOKafkaConsumer(
            bootstrap_servers=s.bootstrap,
            group_id=group,
            enable_auto_commit=False,
            request_timeout_ms=5000,
            **s.options(principal),
        )
        await c.start()
        try:
            c.assign([tp])
            await c.commit({tp: 1})
        finally:
            await c.stop()

    await commit(f"{group_prefix(names, principal)}subscriber")
    with pytest.raises(GroupAuthorizationFailedError):
        await commit(f"{group_prefix(names, PRINCIPALS.recipient('skole-9002'))}subscriber")


async def test_only_the_worker_uses_transactional_ids(secure_kafka: Secure) -> None:
    """The worker's transactional ids (exactly-once) are refused to every other principal,
    and the worker can run a transaction."""
    s = secure_kafka
    key = f"{s.settings.app_id}-probe"
    results = await asyncio.gather(
        *[_find_coordinator(s, p, CoordinationType.TRANSACTION, key) for p in s.principals]
    )
    observed = dict(zip(s.principals, results, strict=True))
    assert observed == {p: "ok" if p == PRINCIPALS.worker else "refused" for p in s.principals}

    p = AIOKafkaProducer(
        bootstrap_servers=s.bootstrap, transactional_id=key, **s.options(PRINCIPALS.worker)
    )
    await p.start()
    try:
        async with p.transaction():
            await p.send_and_wait(s.settings.topics.audit, b"in a transaction")
    finally:
        await p.stop()


async def _connects(bootstrap: str, **options: Any) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000, **options)
    try:
        await asyncio.wait_for(admin.start(), timeout=8)
        await asyncio.wait_for(admin.describe_cluster(), timeout=8)
        return True
    except (KafkaConnectionError, KafkaError, OSError, TimeoutError):
        return False
    finally:
        await admin.close()


async def test_unauthenticated_connections_fail(secure_kafka: Secure, tmp_path: Path) -> None:
    """Plaintext, TLS without a client certificate and a certificate from another CA all fail;
    the admin's certificate connects (so the failures are not a dead broker)."""
    s = secure_kafka
    assert not await _connects(s.bootstrap, security_protocol="PLAINTEXT")

    ca_file = s.security.credentials_dir / "ca.crt"
    no_cert = ssl.create_default_context(cafile=str(ca_file))
    assert not await _connects(s.bootstrap, security_protocol="SSL", ssl_context=no_cert)

    now = dt.datetime.now(dt.UTC)
    other_key, other_cert = make_ca(now)
    key_pem, cert_pem = issue(other_key, other_cert, PRINCIPALS.admin, now)
    (tmp_path / "admin.key").write_bytes(key_pem)
    (tmp_path / "admin.crt").write_bytes(cert_pem)
    forged = ssl.create_default_context(cafile=str(ca_file))
    forged.load_cert_chain(str(tmp_path / "admin.crt"), str(tmp_path / "admin.key"))
    assert not await _connects(s.bootstrap, security_protocol="SSL", ssl_context=forged)

    assert await _connects(s.bootstrap, **s.options(PRINCIPALS.admin))


def test_kafka_sh_status_reports_the_secure_profile(secure_kafka: Secure) -> None:
    """`kafka.sh status` finds the running secure broker and checks it with the admin's
    certificate (its readiness probe)."""
    cluster = secure_kafka.cluster
    env = {**os.environ, "KAFKA_PORT": str(cluster.port), "KAFKA_DATA_DIR": str(cluster.data_dir)}
    result = _kafka("status", env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "secure profile" in result.stdout
