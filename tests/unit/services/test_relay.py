"""The receipts relay: each receipt becomes an audit event for the organisation whose topic it
came from (and the role it fills), signed as the relay's; a receipt that is not valid becomes a
receipt-rejected event naming both."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import pytest

from broker.adapters.policy_files import load_directory, load_policy
from broker.adapters.settings import Settings
from broker.adapters.stores import keyfiles
from broker.core.audit import Entry, writers
from broker.core.audit.access import AUDIT_RECEIPT_TYPE, State, receipt
from broker.core.audit.events import canonical
from broker.core.audit.messages import ReceiptRejected, read_audit_message
from broker.core.crypto.registry import KeyKind
from broker.services import relay as service
from tests.conftest import POLICIES


@dataclasses.dataclass
class Record:
    topic: str
    partition: int
    offset: int
    value: bytes | None


@pytest.fixture
def relay(tmp_path: Path, now: datetime, monkeypatch: pytest.MonkeyPatch) -> service.Relay:
    for name in ("BROKER_KEY_DIR", "BROKER_KEY_REGISTRY"):
        monkeypatch.delenv(name, raising=False)
    s = Settings(state_dir=tmp_path, topic_prefix="t.", policies=POLICIES)
    keyfiles.ensure(s.key_paths(), KeyKind.audit_writer, writers.RELAY, now)
    return service.build(s)


def _attributed(relay: service.Relay, value: bytes, headers: Sequence[tuple[str, bytes]]) -> bool:
    entry = Entry(0, AUDIT_RECEIPT_TYPE, value, tuple(headers))
    registry = keyfiles.load_registry(relay.settings.key_paths().registry)
    return writers.check(entry, registry) is None


def test_the_relay_listens_on_every_organisation_s_receipts_topic(relay: service.Relay) -> None:
    s = relay.settings
    directory = load_directory(load_policy(POLICIES))
    assert relay.topics == {s.topics.receipts(o.id): o for o in directory.organisations.values()}
    assert relay.topics["t.receipts.skole-9002"].kind == "school"
    assert relay.topics["t.receipts.bydel-alna-barnevern"].kind == "child-welfare"


@pytest.mark.parametrize(
    ("organisation", "role"), [("skole-9002", "school"), ("bydel-alna-barnevern", "child-welfare")]
)
def test_a_receipt_is_relayed_for_the_organisation_of_its_topic(
    relay: service.Relay, now: datetime, organisation: str, role: str
) -> None:
    """The event names the organisation (from the topic) and the role it fills, as a decision's
    audit record does; what the receipt itself claims is not read."""
    topic = relay.settings.topics.receipts(organisation)
    _, value = receipt("d-1", State.opened, now)
    claims = canonical(json.loads(value) | {"organisation": "skole-9003", "recipient": "police"})
    message = relay.relayed(Record(topic, 0, 4, claims), now)
    assert message.topic == relay.settings.topics.audit
    event = json.loads(message.value)
    assert (event["event"], event["delivery_id"]) == ("opened", "d-1")
    assert (event["recipient"], event["organisation"]) == (role, organisation)
    assert _attributed(relay, message.value, message.headers)


def test_the_same_delivery_id_from_two_schools_gives_two_records(
    relay: service.Relay, now: datetime
) -> None:
    """Record ids are per organisation: skole-9003's receipt never stands in for skole-9002's."""
    _, value = receipt("d-1", State.received, now)
    ids = {
        json.loads(
            relay.relayed(Record(relay.settings.topics.receipts(o), 0, 1, value), now).value
        )["record_id"]
        for o in ("skole-9002", "skole-9003")
    }
    assert len(ids) == 2


@pytest.mark.parametrize("value", [b"not json", None])
def test_a_receipt_that_is_not_valid_is_audited_not_dropped(
    relay: service.Relay, now: datetime, value: bytes | None
) -> None:
    topic = relay.settings.topics.receipts("skole-9002")
    message = relay.relayed(Record(topic, 0, 7, value), now)
    event = json.loads(message.value)
    assert event["event"] == "receipt-rejected"
    assert (event["recipient"], event["organisation"]) == ("school", "skole-9002")
    assert event["source"] == f"{topic}/0/7"
    assert event["reasons"] == ["receipt: not JSON"]
    assert len(event["input_sha256"]) == 64
    assert _attributed(relay, message.value, message.headers)
    again = relay.relayed(Record(topic, 0, 7, value), now)
    assert again.value == message.value  # the same id when the same receipt is relayed twice
    record = read_audit_message(AUDIT_RECEIPT_TYPE, message.value)
    assert isinstance(record, ReceiptRejected)
    assert record.organisation == "skole-9002"
