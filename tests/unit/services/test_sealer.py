"""The sealer process around the pure Sealer: it seals only once caught up with the topic,
`--once` seals whatever is pending and stops, each checkpoint is on disk in the witness file
before it is sent, and it does not start without its keys or with a witness it cannot read."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.adapters.settings import Settings
from broker.adapters.stores import auditfiles, keyfiles
from broker.core.audit import (
    CHECKPOINT_TYPE,
    RECORD_TYPE,
    AuditError,
    Checkpoint,
    Entry,
    Sealer,
    writers,
)
from broker.core.crypto.registry import KeyKind
from broker.core.errors import ConfigError
from broker.services import sealer as service
from broker.testing import audit as drill

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(5, 37)))
OTHER = Ed25519PrivateKey.from_private_bytes(bytes(range(6, 38)))


def _records(n: int) -> list[Entry]:
    return [Entry(i, RECORD_TYPE, drill.record_value(i)) for i in range(n)]


def _loop(once: bool = False, every: int = 3) -> tuple[service.Loop, list[Checkpoint]]:
    sent: list[Checkpoint] = []

    async def publish(cp: Checkpoint) -> None:
        sent.append(cp)

    sealer = Sealer(KEY, drill.ORIGIN, every=every, interval=timedelta(days=1))
    return service.Loop(sealer, publish, once), sent


async def test_nothing_is_sealed_before_the_sealer_has_caught_up(now: datetime) -> None:
    """Records already on the topic may be sealed by a checkpoint further on: wait for it."""
    loop, sent = _loop()
    entries = _records(10)
    assert not await loop.step(entries[:5], 5, 10, now)
    assert sent == []
    assert not await loop.step(entries[5:], 10, 10, now)
    assert [cp.tree_size for cp in sent] == [10]
    assert loop.sealer.pending == 0


async def test_once_seals_what_is_pending_however_few_and_stops(now: datetime) -> None:
    loop, sent = _loop(once=True, every=1000)
    assert await loop.step(_records(2), 2, 2, now)
    assert [cp.tree_size for cp in sent] == [2]


async def test_once_on_a_sealed_log_stops_without_a_checkpoint(now: datetime) -> None:
    log = drill.build(4, KEY, every=2)
    loop, sent = _loop(once=True)
    assert await loop.step(log.entries, len(log.entries), len(log.entries), now)
    assert sent == []


async def test_a_log_that_does_not_verify_is_not_sealed(now: datetime) -> None:
    forged = drill.resign(drill.build(4, KEY, every=2), 0, OTHER)
    loop, sent = _loop(once=True)
    with pytest.raises(AuditError, match="not sealing"):
        await loop.step(forged.entries, len(forged.entries), len(forged.entries), now)
    assert sent == []


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in ("BROKER_KEY_DIR", "BROKER_KEY_REGISTRY", "BROKER_AUDIT_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("BROKER_AUDIT_WITNESS", raising=False)
    return Settings(state_dir=tmp_path, topic_prefix="t.")


def _with_writer_key(s: Settings, now: datetime) -> None:
    keyfiles.ensure(s.key_paths(), KeyKind.audit_writer, writers.SEALER, now)


def test_the_sealer_does_not_start_without_its_writer_key(
    settings: Settings, now: datetime
) -> None:
    keyfiles.ensure(settings.key_paths(), KeyKind.audit_writer, writers.RELAY, now)  # not its own
    with pytest.raises(ConfigError, match="the audit-sealer has no active audit-writer key"):
        service.build(settings, every=10, interval=1.0, witness=None, once=True)
    assert not auditfiles.signing_key_path(settings).exists()


def test_the_sealer_does_not_start_on_a_witness_it_cannot_read(
    settings: Settings, now: datetime, tmp_path: Path
) -> None:
    _with_writer_key(settings, now)
    witness = tmp_path / "w.jsonl"
    witness.write_text("{}\n")
    with pytest.raises(auditfiles.LineError, match=rf"^{witness}:1: checkpoint:"):
        service.build(settings, every=10, interval=1.0, witness=witness, once=True)


async def test_a_checkpoint_is_in_the_witness_file_before_it_is_sent(
    settings: Settings, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """And it goes to the audit topic signed as the sealer's."""
    _with_writer_key(settings, now)
    built = service.build(settings, every=10, interval=1.0, witness=None, once=True)
    assert built.witness == auditfiles.witness_path(settings)
    assert auditfiles.signing_key_path(settings).exists()  # created on first use
    for entry in _records(3):
        built.sealer.add(entry)
    sent: list[Any] = []

    async def send_all(producer: Any, messages: list[Any]) -> None:
        assert auditfiles.read_witness(built.witness) == [cp]
        sent.extend(messages)

    monkeypatch.setattr(service, "send_all", send_all)
    cp = built.sealer.seal(now)
    await built._publish(None, cp)
    [message] = sent
    assert message.topic == settings.topics.audit
    assert message.value == cp.to_json()
    entry = Entry(3, CHECKPOINT_TYPE, message.value, tuple(message.headers))
    assert writers.check(entry, keyfiles.load_registry(settings.key_paths().registry)) is None
