"""End to end on the real broker: publish, decide, redact, deliver, audit, dead-letter."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from broker.adapters.kafka.clients import consume, fetch_partition_zero, producer, send_all
from broker.adapters.policy_files import load_directory, load_policy
from broker.adapters.publisher import notice_message, sealed_for_broker
from broker.adapters.retention_files import load_retention
from broker.adapters.stores import keyfiles
from broker.adapters.stores.datakeys import SqliteDataKeyStore
from broker.core import retention
from broker.core.crypto import sealing, signing
from broker.core.crypto.registry import KeyKind, SigningKey
from broker.core.deployment.acl import Principals
from broker.core.envelope import header_map
from broker.core.notices import IncidentNotice, RiskNotice
from broker.core.paths import covers, leaves
from broker.core.pipeline import AUDIT_TYPE, OutMessage
from broker.core.policy import PolicySet
from broker.services.local import broker_command
from tests.conftest import ce_headers, example
from tests.integration.conftest import Stack

# the organisations the examples name, as policies/directory.yaml lists them: the 'threat'
# pupil's school (osloskolen-9002) and the 'recruited' child's district (Grorud)
THREAT_SCHOOL = "skole-9002"
THREAT_DISTRICT = "bydel-frogner-barnevern"
RECRUITED_DISTRICT = "bydel-grorud-barnevern"

pytestmark = pytest.mark.integration


@dataclass
class Observed:
    now: datetime  # when the notices were sent, on the real clock (the worker's)
    published_valid: list[dict[str, Any]]
    published_invalid: int
    audit: list[dict[str, Any]]
    deliveries: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    dead: list[Any] = field(default_factory=list)
    stack: Any = None


def _model(doc: dict[str, Any]) -> Any:
    return (RiskNotice if doc["notice_type"] == "risk" else IncidentNotice).model_validate(doc)


async def _publish_and_collect(stack: Stack, policy: PolicySet) -> Observed:
    s = stack.settings
    now = datetime.now(UTC)
    valid = [example("recruited", now), example("threat", now), example("robbery", now)]
    follow_up = example("recruited", now)  # a second notice about the same child, published after
    follow_up["notice_id"] = str(uuid.uuid4())
    follow_up["issued_at"] = (now - timedelta(days=1)).isoformat()
    # its controller decision, made before it was issued (a decision after it would not count)
    follow_up["controller_decision"]["decided_at"] = (now - timedelta(days=1, hours=1)).isoformat()
    valid.append(follow_up)
    bad_checksum = example("robbery", now)
    bad_checksum["notice_id"] = str(uuid.uuid4())
    nid = bad_checksum["child"]["national_id"]
    bad_checksum["child"]["national_id"] = nid[:-1] + str((int(nid[-1]) + 1) % 10)
    police = _police_key(s)
    raw = [  # signed by a registered police unit, so that validation is what fails
        (json.dumps(bad_checksum).encode(), ce_headers(bad_checksum, now)),
        (b'{"notice_id": "oops", ', ce_headers({"notice_type": "incident"}, now)),
        (b"{}", ce_headers({"notice_type": "rumour", "notice_id": "x"}, now)),
    ]
    messages = [notice_message(_model(d), s) for d in valid]
    messages += [
        sealed_for_broker(
            OutMessage(s.topics.notices, None, v, signing.sign(_from_unit(h), v, police)), s
        )
        for v, h in raw
    ]
    in_clear = example("robbery", now)  # signed, but not sealed to the broker: refused unread
    in_clear["notice_id"] = str(uuid.uuid4())
    clear = notice_message(_model(in_clear), s)
    messages.append(
        OutMessage(
            clear.topic,
            clear.key,
            _unsealed_value(s, clear),
            tuple(h for h in clear.headers if h[0] != "ce_sealed"),
        )
    )
    forged = example("threat", now)  # not signed at all: refused before it is read
    forged["notice_id"] = str(uuid.uuid4())
    unsigned = notice_message(_model(forged), s)
    messages.append(
        OutMessage(
            unsigned.topic,
            unsigned.key,
            unsigned.value,
            tuple(h for h in unsigned.headers if h[0] not in ("ce_signature", "ce_keyid")),
        )
    )
    messages.append(messages[0])  # the same signed notice again: a replay
    async with producer(s.bootstrap) as p:
        await send_all(p, messages)

    invalid = len(raw) + 3
    expected = len(valid) * len(policy.recipients) + invalid
    observed = Observed(now, valid, invalid, [])
    deadline = time.monotonic() + 90
    async for record in consume(s.bootstrap, [s.topics.audit], idle_timeout=60):
        if dict(record.headers).get("ce_type") != AUDIT_TYPE.encode():
            continue  # checkpoints and other audit events
        observed.audit.append(json.loads(record.value))
        if len(observed.audit) >= expected or time.monotonic() > deadline:
            break
    # every organisation's own topic (policies/directory.yaml), by organisation id
    topics = {s.topics.delivery(t): o for o, t in load_directory(policy).topics.items()}
    async for record in consume(s.bootstrap, [*topics, s.topics.dead_letter], idle_timeout=3):
        if record.topic == s.topics.dead_letter:
            observed.dead.append(record)
        else:
            observed.deliveries[topics[record.topic]].append(record)
    return observed


@pytest.fixture(scope="module")
def observed(stack: Stack, policy: PolicySet) -> Observed:
    result = asyncio.run(_publish_and_collect(stack, policy))
    result.stack = stack
    return result


def _unsealed_value(s: Any, message: OutMessage) -> bytes:
    """The plaintext inside a sealed notice (what a publisher that skips sealing would send)."""
    paths = s.key_paths()
    registry = keyfiles.load_registry(paths.registry)
    opener = sealing.NoticeOpener(keyfiles.decryption_keys(paths, registry, sealing.BROKER_INBOX))
    return opener.open(dict(message.headers), message.value)


def _from_unit(headers: list[tuple[str, bytes]]) -> tuple[tuple[str, bytes], ...]:
    return tuple((k, b"/police/oslo-pd-ost" if k == "ce_source" else v) for k, v in headers)


def _police_key(s: Any) -> SigningKey:
    paths = s.key_paths()
    registry = keyfiles.load_registry(paths.registry)
    return keyfiles.signing_key(paths, registry, KeyKind.publisher, "oslo-pd-ost")


def _bodies(observed: Observed, organisation: str) -> list[dict[str, Any]]:
    """The organisation's deliveries, verified and decrypted with its own key."""
    opener = observed.stack.opener(organisation)
    return [opener.open(header_map(r.headers), r.value) for r in observed.deliveries[organisation]]


def test_school_receives_only_its_allowed_fields(observed: Observed, policy: PolicySet) -> None:
    """The school's copy of the staff-threat notice holds only paths its rule releases."""
    (delivery,) = _bodies(observed, THREAT_SCHOOL)
    rule = next(r for r in policy.rules if r.id == delivery["rule_id"])
    paths = [p for p, _ in leaves(delivery["notice"])]
    assert paths
    assert [p for p in paths if not any(covers(a, p) for a in rule.fields)] == []
    threat = example("threat", observed.now)
    text = json.dumps(delivery)
    for value in (
        threat["child"]["national_id"],
        threat["guardians"][0]["name"],
        threat["necessity"],
        threat["intelligence"]["sources"][0],
    ):
        assert value not in text


def test_child_welfare_receives_more(observed: Observed) -> None:
    """Child welfare gets the national id and guardians that the school does not: for the
    threat, the pupil's school and the child welfare service of the pupil's district (Frogner)."""
    school = _bodies(observed, THREAT_SCHOOL)[0]
    welfare = next(
        d
        for d in _bodies(observed, THREAT_DISTRICT)
        if d["notice"]["notice_id"] == example("threat", observed.now)["notice_id"]
    )
    assert welfare["legal_basis"]["id"] == "prl-30"
    school_paths = {p for p, _ in leaves(school["notice"])}
    welfare_paths = {p for p, _ in leaves(welfare["notice"])}
    assert school_paths < welfare_paths
    assert {"child.national_id", "guardians[].name"} <= welfare_paths - school_paths


def test_recipient_without_a_rule_that_applies_receives_nothing(observed: Observed) -> None:
    """The youth club has no rule for incidents, and the threat's measures are not for it:
    nothing on its topic, and the audit says why."""
    assert observed.deliveries["fritidsklubb-oslo"] == []
    records = [r for r in observed.audit if r.get("recipient") == "youth-club"]
    assert len(records) == len(observed.published_valid)
    why = ("no-rule:", "condition-false: rule risk-youth-club-prevent")
    assert all(r["outcome"] == "deny" and r["reasons"][0].startswith(why) for r in records)


def test_imposed_confidentiality_opens_and_shows(observed: Observed) -> None:
    """The threat imposes confidentiality (prl § 35 second paragraph): the school's copy, as
    its own key opens it, carries the duty; the audit record marks it without the reason; and
    `broker subscribe` shows it before the copy."""
    threat = example("threat", observed.now)
    (delivery,) = _bodies(observed, THREAT_SCHOOL)
    duty = delivery["confidentiality"]
    assert duty["basis"]["id"] == "prl-35-2"
    assert threat["confidentiality_imposed"]["reason"] in duty["text"]
    (record,) = [
        r
        for r in observed.audit
        if r.get("notice_id") == threat["notice_id"] and r.get("recipient") == "school"
    ]
    assert record["confidentiality_imposed"] is True
    assert record["controller_decision"]["reference"] == threat["controller_decision"]["reference"]
    shown = broker_command(
        observed.stack.settings,
        "subscribe",
        THREAT_SCHOOL,
        "--max",
        "1",
        "--idle-timeout",
        "10",
        "--no-receipts",
    )
    assert shown.returncode == 0, shown.stderr
    text = " ".join(shown.stdout.replace("│", " ").split())
    assert "CONFIDENTIALITY IMPOSED" in text
    assert text.index("CONFIDENTIALITY IMPOSED") < text.index(threat["child"]["name"])


def test_malformed_notices_are_dead_lettered_with_their_error(observed: Observed) -> None:
    """Each malformed input is on the dead-letter topic, as sent, with a field and a reason."""
    errors = [json.loads(dict(r.headers)["broker_error"]) for r in observed.dead]
    assert sorted(e["code"] for e in errors) == [
        "invalid-notice",
        "not-json",
        "notice-not-sealed",
        "notice-replayed",
        "signature-missing",
        "unknown-type",
    ]
    checksum = next(e for e in errors if e["code"] == "invalid-notice")
    assert checksum["problems"][0]["field"] == "child.national_id"
    dead_records = [r for r in observed.audit if r["event"] == "dead-letter"]
    assert len(dead_records) == observed.published_invalid


def test_every_input_is_accounted_for(observed: Observed, policy: PolicySet) -> None:
    """delivered + denied + dead-lettered covers every published input, exactly once each."""
    decisions = [r for r in observed.audit if r["event"] == "decision"]
    per_notice = Counter(r["notice_id"] for r in decisions)
    assert per_notice == {d["notice_id"]: len(policy.recipients) for d in observed.published_valid}
    assert len({(r["notice_id"], r["recipient"]) for r in decisions}) == len(decisions)
    outcomes = Counter(r["outcome"] for r in decisions)
    delivered = sum(len(v) for v in observed.deliveries.values())
    assert outcomes["deliver"] == delivered
    assert len(observed.dead) == observed.published_invalid
    published = len(observed.published_valid) + observed.published_invalid
    assert len(per_notice) + len(observed.dead) == published
    delivery_ids = [dict(r.headers)["ce_id"] for v in observed.deliveries.values() for r in v]
    assert len(set(delivery_ids)) == len(delivery_ids)
    audited_ids = {r["delivery_id"].encode() for r in decisions if r.get("delivery_id")}
    assert audited_ids == set(delivery_ids)


def test_one_childs_notices_stay_in_order(observed: Observed) -> None:
    """Two notices about one child go to one partition, in the order they were published."""
    nid = example("recruited", observed.now)["child"]["national_id"]
    records = observed.deliveries[RECRUITED_DISTRICT]
    bodies = _bodies(observed, RECRUITED_DISTRICT)
    same_child = [
        (r, b)
        for r, b in zip(records, bodies, strict=True)
        if b["notice"]["child"]["national_id"] == nid
    ]
    assert len(same_child) == 2
    assert len({r.partition for r, _ in same_child}) == 1
    ids = [b["notice"]["notice_id"] for _, b in sorted(same_child, key=lambda rb: rb[0].offset)]
    assert ids == [
        d["notice_id"] for d in observed.published_valid if d["child"]["national_id"] == nid
    ]


def test_audit_and_worker_log_hold_no_personal_data(observed: Observed, stack: Stack) -> None:
    """No name, national id, phone or free text from the notices is in the audit or the log."""
    values = set()
    for doc in observed.published_valid:
        for path, value in leaves(doc):
            if path.startswith(
                (
                    "child.",
                    "guardians",
                    "incident.summary",
                    "incident.co_involved",
                    "risk.summary",
                    "necessity",
                    "intelligence",
                )
            ):
                values.add(str(value))
    values = {v for v in values if len(v) > 4}
    haystack = json.dumps(observed.audit) + stack.log()
    assert sorted(v for v in values if v in haystack) == []


def test_deliveries_on_kafka_are_ciphertext(observed: Observed) -> None:
    """Whoever reads a delivery topic without the recipient's key (a Kafka operator) sees no
    personal data: not a name, a national id, or the school."""
    threat = example("threat", observed.now)
    secrets = [
        threat["child"]["name"],
        threat["child"]["national_id"],
        threat["child"]["school"]["name"],
        threat["contact"]["phone"],
    ]
    raw = b"".join(
        r.value + repr(r.headers).encode() for v in observed.deliveries.values() for r in v
    )
    assert raw
    assert [x for x in secrets if x.encode() in raw] == []


def test_a_recipient_cannot_open_another_recipients_delivery(observed: Observed) -> None:
    """The school's key opens the school's delivery and fails on child welfare's."""
    (school_record,) = observed.deliveries[THREAT_SCHOOL]
    welfare_record = observed.deliveries[RECRUITED_DISTRICT][0]
    school = observed.stack.opener(THREAT_SCHOOL)
    opened = school.open(header_map(school_record.headers), school_record.value)
    assert (opened["recipient"], opened["organisation"]) == ("school", THREAT_SCHOOL)
    with pytest.raises((sealing.DecryptionError, signing.VerificationError)):
        school.open(header_map(welfare_record.headers), welfare_record.value)


def test_only_the_pupils_own_school_and_district_receive(observed: Observed) -> None:
    """Every school and child welfare delivery is on the topic of the organisation the notice
    names (the pupil's school, the child's district); no other school or district got one."""
    directory = load_directory(load_policy(observed.stack.settings.policy_dir))
    named_schools = {
        d["child"].get("school", {}).get("school_id") for d in observed.published_valid
    }
    named_districts = {d["child"]["district"] for d in observed.published_valid}
    for org, records in observed.deliveries.items():
        o = directory.organisations[org]
        if records and o.kind == "school":
            assert o.school_id in named_schools, org
        if records and o.kind == "child-welfare":
            assert o.district in named_districts, org
    receiving_schools = [o for o, r in observed.deliveries.items() if r and o.startswith("skole")]
    assert receiving_schools == [THREAT_SCHOOL]


TOPIC_AUTHORIZATION_FAILED = 29
# (who tries, whose copies): the other school, and each district's service on the other's
INTRUDERS = [
    ("skole-9001", THREAT_SCHOOL),
    (THREAT_DISTRICT, RECRUITED_DISTRICT),
    (RECRUITED_DISTRICT, THREAT_DISTRICT),
]


async def test_another_school_or_district_can_neither_read_nor_decrypt(
    observed: Observed,
) -> None:
    """On the secure broker, the other school (skole-9001, Grorud) is refused a fetch of
    skole-9002's delivery topic by Kafka itself; given those bytes anyway (as a Kafka operator
    holds them), its own key opens none of them. The same holds between the two districts'
    child welfare services."""
    s = observed.stack.settings
    topics = load_directory(load_policy(s.policy_dir)).topics
    tried = 0
    for thief, victim in INTRUDERS:
        options = s.kafka.options(Principals.recipient(thief))
        error, records = await fetch_partition_zero(
            s.bootstrap, options, s.topics.delivery(topics[victim])
        )
        assert (error, records) == (TOPIC_AUTHORIZATION_FAILED, b""), (thief, victim)
        opener = observed.stack.opener(thief)
        for record in observed.deliveries[victim]:
            with pytest.raises(sealing.DecryptionError) as caught:
                opener.open(header_map(record.headers), record.value)
            assert caught.value.code == "not-for-this-recipient"
            tried += 1
    assert tried >= 3  # the school's copy and both districts' copies were tried


def test_the_audit_log_verifies(observed: Observed) -> None:
    """After the run, the sealed audit log verifies against its signed checkpoints."""
    s = observed.stack.settings
    assert broker_command(s, "audit", "seal", "--once").returncode == 0
    result = broker_command(s, "audit", "verify")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verified" in result.stdout


def test_after_purge_the_broker_cannot_read_and_the_log_still_verifies(observed: Observed) -> None:
    """Within retention the broker can show what the school received (its data key is in the
    store); after `purge` past the retention period it cannot, and the audit log, which
    commits to ciphertexts and field names only, still verifies."""
    s = observed.stack.settings
    threat = example("threat", observed.now)
    threat_id = threat["notice_id"]
    (record,) = observed.deliveries[THREAT_SCHOOL]
    sealed = sealing.parse_sealed(record.value)
    delivery_id = dict(record.headers)["ce_id"].decode()
    with SqliteDataKeyStore(s.key_paths().data_keys) as store:
        plain = sealing.open_with_data_key(
            sealed, delivery_id=delivery_id, owner=THREAT_SCHOOL, data_key=store.lookup(threat_id)
        )
        assert threat["child"]["name"].encode() in plain
        policy = load_retention(s.policy_dir)
        report = retention.purge(store, policy, datetime.now(UTC) + timedelta(days=3650))
        assert report.destroyed >= len(observed.published_valid)
        with pytest.raises(sealing.DecryptionError):
            sealing.open_with_data_key(
                sealed,
                delivery_id=delivery_id,
                owner=THREAT_SCHOOL,
                data_key=store.lookup(threat_id),
            )
    assert broker_command(s, "audit", "seal", "--once").returncode == 0
    verified = broker_command(s, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_notices_on_kafka_are_ciphertext_too(observed: Observed) -> None:
    """The notices topic and the dead-letter topic hold what publishers sent: sealed to the
    broker, so a Kafka operator reads no name or national id there either."""
    s = observed.stack.settings

    async def read() -> bytes:
        out = b""
        async for r in consume(
            s.bootstrap, [s.topics.notices, s.topics.dead_letter], idle_timeout=3
        ):
            if dict(r.headers).get("ce_sealed") == b"1":
                out += r.value
        return out

    raw = asyncio.run(read())
    assert raw
    for doc in observed.published_valid:
        for secret in (doc["child"]["name"], doc["child"]["national_id"]):
            assert secret.encode() not in raw


def test_policy_simulate_replays_the_notices_topic(observed: Observed, tmp_path: Any) -> None:
    """`broker policy simulate --topic` unseals and replays the notices on Kafka: a proposed
    policy that drops the school's rules shows the school receiving less."""
    import shutil  # noqa: PLC0415

    s = observed.stack.settings
    proposed = tmp_path / "proposed"
    shutil.copytree(s.policy_dir, proposed)
    rules = proposed / "rules.yaml"
    text = rules.read_text(encoding="utf-8")
    rules.write_text(
        text.replace("recipient: school\n", "recipient: youth-club\n"), encoding="utf-8"
    )
    result = broker_command(s, "policy", "simulate", str(proposed), "--topic", "--processes", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    replayed = re.search(r"(\d+) notices", result.stdout)
    assert replayed is not None
    assert int(replayed.group(1)) >= len(observed.published_valid)  # unsealed and replayed
    assert "school" in result.stdout
    assert "youth-club" in result.stdout
