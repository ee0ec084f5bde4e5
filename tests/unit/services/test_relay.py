"""The receipts relay: each receipt becomes an audit event for the recipient whose topic it came
from, signed as the relay's; a receipt that is not valid becomes a receipt-rejected event."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import pytest

from broker.adapters.settings import Settings
from broker.adapters.stores import keyfiles
from broker.core.audit import Entry, writers
from broker.core.audit.access import AUDIT_RECEIPT_TYPE, State, receipt
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


def test_the_relay_listens_on_every_recipients_receipts_topic(relay: service.Relay) -> None:
    s = relay.settings
    assert relay.topics == {s.topics.receipts(r): r for r in relay.topics.values()}
    assert {"skole-9002", "bydel-alna-barnevern"} <= set(relay.topics.values())


def test_a_receipt_is_relayed_for_the_recipient_of_its_topic(
    relay: service.Relay, now: datetime
) -> None:
    topic = relay.settings.topics.receipts("skole-9002")
    _, value = receipt("d-1", State.opened, now)
    message = relay.relayed(Record(topic, 0, 4, value), now)
    assert message.topic == relay.settings.topics.audit
    event = json.loads(message.value)
    assert (event["event"], event["recipient"], event["delivery_id"]) == (
        "opened",
        "skole-9002",
        "d-1",
    )
    assert _attributed(relay, message.value, message.headers)


@pytest.mark.parametrize("value", [b"not json", None])
def test_a_receipt_that_is_not_valid_is_audited_not_dropped(
    relay: service.Relay, now: datetime, value: bytes | None
) -> None:
    topic = relay.settings.topics.receipts("skole-9002")
    message = relay.relayed(Record(topic, 0, 7, value), now)
    event = json.loads(message.value)
    assert event["event"] == "receipt-rejected"
    assert event["recipient"] == "skole-9002"
    assert event["source"] == f"{topic}/0/7"
    assert event["reasons"] == ["receipt: not JSON"]
    assert len(event["input_sha256"]) == 64
    assert _attributed(relay, message.value, message.headers)
    again = relay.relayed(Record(topic, 0, 7, value), now)
    assert again.value == message.value  # the same id when the same receipt is relayed twice
