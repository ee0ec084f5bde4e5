"""The fakes implement the real interfaces: the ready pipeline takes production's branch
(signed and sealed notices in, sealed deliveries and signed audit records out)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from broker.core.audit import writers
from broker.core.audit.events import RECORD_TYPE, Entry
from broker.core.crypto import sealing
from broker.core.crypto.registry import KeyKind
from broker.core.pipeline import Source
from broker.core.policy import PolicySet
from broker.core.retention import DataKeyStore
from broker.testing.fakes import FixedClock, MemoryDataKeyStore, ready_pipeline
from tests.conftest import example

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
SRC = Source("t.notices", 0, 1)


def test_the_ready_pipeline_refuses_what_the_worker_refuses(policy: PolicySet) -> None:
    """A notice in clear, or sealed but unsigned, is dead-lettered as by the worker: the fake
    has no plaintext or unsigned branch."""
    ready = ready_pipeline(policy, now=NOW)
    doc = example("threat", NOW)
    value, headers = json.dumps(doc).encode(), ready.headers(doc)
    clear = ready.pipeline.process(value, headers, SRC)
    assert clear.error is not None
    assert clear.error.code == "notice-not-sealed"
    sealed_headers, sealed = sealing.seal_notice(
        tuple((k, v or b"") for k, v in headers), value, ready.keys.registry
    )
    unsigned = ready.pipeline.process(sealed, sealed_headers, SRC)
    assert unsigned.error is not None
    assert unsigned.error.code == "signature-missing"


def test_its_deliveries_are_sealed_and_its_audit_records_signed(policy: PolicySet) -> None:
    """Each delivery opens for its recipient only; every audit record is the worker's."""
    ready = ready_pipeline(policy, now=NOW)
    result = ready.process(example("threat", NOW))
    assert result.error is None
    for message in result.deliveries:
        assert ready.open(message)["recipient"] == ready.recipient_of(message)
        assert b"national_id" not in message.value
    for message in result.audit_records:
        entry = Entry(0, RECORD_TYPE, message.value, message.headers)
        assert writers.check(entry, ready.keys.registry) is None
    assert ready.keys.registry.active(KeyKind.recipient, "skole-9002") is not None


def test_the_memory_store_is_a_data_key_store() -> None:
    """Typed as the Protocol (mypy checks the assignment), and it keeps a key per notice."""
    store: DataKeyStore = MemoryDataKeyStore()
    key = store.data_key("n-1", "risk", NOW)
    assert store.lookup("n-1") == key
    assert [e.notice_id for e in store.entries()] == ["n-1"]


def test_the_fixed_clock_moves_only_when_told() -> None:
    """It reads the same until advanced."""
    clock = FixedClock(NOW)
    assert clock() == clock() == NOW
    clock.advance(timedelta(minutes=1))
    assert clock() == NOW + timedelta(minutes=1)
