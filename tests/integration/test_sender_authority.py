"""Sender authority on the real system: a unit's key speaks only for its own sender class, and
each class publishes with a Kafka principal of its own (issue #9).

On the session's secure Kafka, through the real worker: a school unit's key signing a police
incident notice and a police key signing child welfare's feedback are dead-lettered
(`sender-not-authorised`), audited, and delivered to no one; a school's concern report,
published by `broker publish` as `publisher.school`, is delivered.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from broker.adapters.examples import EXAMPLES
from broker.adapters.kafka.clients import client_options, consume, producer, send_all
from broker.adapters.policy_files import load_directory
from broker.adapters.publisher import sealed_for_broker
from broker.adapters.settings import Settings
from broker.adapters.stores import keyfiles
from broker.core import envelope
from broker.core.crypto import refs, signing
from broker.core.crypto.registry import KeyKind
from broker.core.deployment.acl import Principals
from broker.core.notices import NOTICE_MODELS
from broker.core.pipeline import AUDIT_TYPE, OutMessage
from broker.core.policy import PolicySet
from broker.services.local import broker_command
from tests.integration.conftest import Stack

pytestmark = pytest.mark.integration

POLICE_UNIT = "oslo-pd-ost"
SCHOOL_UNIT = "osloskolen-9003"
INCIDENT = EXAMPLES / "01-recruited-for-paid-assault.json"
REPORT = EXAMPLES / "other-senders" / "01-school-concern-report.json"
FEEDBACK = EXAMPLES / "other-senders" / "02-child-welfare-feedback.json"


def _doc(path: Path, unit: str) -> dict[str, Any]:
    """The example with a fresh notice id, issued now by ``unit``."""
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    doc["notice_id"] = str(uuid.uuid4())
    doc["issued_at"] = datetime.now(UTC).isoformat()
    doc["issuer"]["unit_id"] = unit
    return doc


def _signed_by(s: Settings, doc: dict[str, Any], *, source_class: str | None = None) -> OutMessage:
    """``doc`` signed with its issuing unit's registered key and sealed to the broker, its
    ce_source naming ``source_class`` (default: the class the registry binds the unit to)."""
    paths = s.key_paths()
    registry = keyfiles.load_registry(paths.registry)
    unit = doc["issuer"]["unit_id"]
    entry = registry.active(KeyKind.publisher, unit)
    assert entry is not None
    notice = NOTICE_MODELS[(doc["notice_type"], 1)].model_validate(doc)
    key = refs.partition_key(s.subject_key(), "notices", notice.child.national_id)
    k, v, h = envelope.encode_notice(notice, key, datetime.now(UTC))
    source = f"/{source_class or entry.sender}/{unit}".encode()
    h = tuple((name, source if name == "ce_source" else value) for name, value in h)
    signer = keyfiles.signing_key(paths, registry, KeyKind.publisher, unit)
    return sealed_for_broker(OutMessage(s.topics.notices, k, v, signing.sign(h, v, signer)), s)


async def _end_offsets(s: Settings, topic: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=s.bootstrap, **client_options())
    await consumer.start()  # subscribed: the topic's metadata is loaded
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        assert partitions
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
        return {tp.partition: offset for tp, offset in ends.items()}
    finally:
        await consumer.stop()


def _is_new(source: str, start: dict[int, int]) -> bool:
    _, partition, offset = source.rsplit("/", 2)
    return int(offset) >= start.get(int(partition), 0)


def test_notices_outside_the_signers_class_are_dead_lettered_and_never_delivered(
    stack: Stack, policy: PolicySet, tmp_path: Path
) -> None:
    """A school key on an incident notice (labelled as the school's, and as `broker publish`
    labels it, /police/<school unit>) and a police key on concern feedback: each is
    dead-lettered with `sender-not-authorised`, audited, and has no decision or delivery.
    The school's own concern report, published by `broker publish` (principal
    publisher.school), reaches child welfare."""
    s = stack.settings
    school_incident = _doc(INCIDENT, SCHOOL_UNIT)
    labelled_police = _doc(INCIDENT, SCHOOL_UNIT)
    police_feedback = _doc(FEEDBACK, POLICE_UNIT)
    refused = {
        school_incident["notice_id"]: ("ce_type", _signed_by(s, school_incident)),
        labelled_police["notice_id"]: (
            "ce_source",
            _signed_by(s, labelled_police, source_class="police"),
        ),
        police_feedback["notice_id"]: ("ce_type", _signed_by(s, police_feedback)),
    }
    report = _doc(REPORT, SCHOOL_UNIT)
    report_file = tmp_path / "concern-report.json"
    report_file.write_text(json.dumps(report), encoding="utf-8")

    async def publish_and_collect() -> tuple[list[dict[str, Any]], list[Any]]:
        start = await _end_offsets(s, s.topics.notices)
        # each signer's own class principal: the ACLs let every publisher write notices, so
        # it is the worker that must refuse them
        for principal, docs in (
            (Principals.publisher("school"), [school_incident, labelled_police]),
            (Principals.publisher("police"), [police_feedback]),
        ):
            async with producer(s.bootstrap, principal=principal) as p:
                await send_all(p, [refused[d["notice_id"]][1] for d in docs])
        published = await asyncio.to_thread(broker_command, s, "publish", str(report_file))
        assert published.returncode == 0, published.stdout + published.stderr
        audit: list[dict[str, Any]] = []
        async for r in consume(s.bootstrap, [s.topics.audit], idle_timeout=60):
            if dict(r.headers).get("ce_type") != AUDIT_TYPE.encode():
                continue
            record = json.loads(r.value)
            if _is_new(record["source"], start):
                audit.append(record)
            if len({a["source"] for a in audit}) >= len(refused) + 1 and sum(
                a["event"] == "decision" for a in audit
            ) >= len(policy.recipients):
                break
        dead = [
            r
            async for r in consume(s.bootstrap, [s.topics.dead_letter], idle_timeout=3)
            if _is_new(dict(r.headers)["broker_source"].decode(), start)
        ]
        return audit, dead

    audit, dead = asyncio.run(publish_and_collect())

    dead_audit = {a["notice_id"]: a for a in audit if a["event"] == "dead-letter"}
    assert set(dead_audit) == set(refused)
    for notice_id, (field, _) in refused.items():
        assert dead_audit[notice_id]["reasons"][0].startswith(f"sender-not-authorised: {field}")
    errors = [json.loads(dict(r.headers)["broker_error"]) for r in dead]
    assert sorted(e["code"] for e in errors) == ["sender-not-authorised"] * len(refused)

    decisions = [a for a in audit if a["event"] == "decision"]
    assert {d["notice_id"] for d in decisions} == {report["notice_id"]}
    assert len(decisions) == len(policy.recipients)
    welfare = next(d for d in decisions if d["recipient"] == "child-welfare")
    assert welfare["outcome"] == "deliver"

    async def delivery_ids() -> set[str]:
        every = load_directory(policy).topics.values()  # every organisation's topic
        topics = sorted({s.topics.delivery(t) for t in every})
        return {
            dict(r.headers)["ce_id"].decode()
            async for r in consume(s.bootstrap, topics, idle_timeout=3)
        }

    on_topics = asyncio.run(delivery_ids())
    assert welfare["delivery_id"] in on_topics
    for notice_id in refused:  # delivery ids are derived from notice id and recipient
        for recipient in policy.recipients:
            assert refs.stable_id("delivery", notice_id, recipient) not in on_topics
