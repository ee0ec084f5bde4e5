"""Retention by crypto-shredding: the rules, the data-key store (each implementation of the
Protocol), purge and its effect. The files: tests/unit/adapters/test_retention_files.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from broker.adapters.stores import keyfiles
from broker.adapters.stores.datakeys import SqliteDataKeyStore
from broker.adapters.stores.keyfiles import KeyPaths
from broker.cli.retention import app
from broker.core import retention
from broker.core.crypto import sealing
from broker.core.crypto.registry import KeyKind, KeyStatus
from broker.core.errors import NoticeError, PolicyError
from broker.core.policy.model import PolicyText
from broker.core.records import Delivery, LegalBasisRef
from broker.core.retention import (
    RetentionPolicy,
    RetentionRule,
    inbox_keys_due,
    parse_retention,
    purge,
)
from broker.testing.fakes import MemoryDataKeyStore, MemoryKeys
from tests.conftest import ROOT

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
REASON = PolicyText(nb="prøve", en="test")
DAY = timedelta(days=1)


def policy(**days: int) -> RetentionPolicy:
    return RetentionPolicy(
        {
            t: RetentionRule(notice_type=t, days=d, reason=REASON, status="inferred")
            for t, d in days.items()
        }
    )


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[retention.DataKeyStore]:
    if request.param == "memory":
        yield MemoryDataKeyStore()
        return
    with SqliteDataKeyStore(tmp_path / "keys" / "data-keys.sqlite3") as s:
        yield s


def test_a_reprocessed_notice_gets_the_same_data_key(store: retention.DataKeyStore) -> None:
    """At-least-once: sealing a notice again uses the key already stored, not a new one."""
    first = store.data_key("n-1", "incident", T0)
    assert store.data_key("n-1", "incident", T0 + DAY) == first
    assert store.data_key("n-2", "incident", T0) != first
    assert len(first) == 32


def test_purge_destroys_exactly_the_keys_past_retention(store: retention.DataKeyStore) -> None:
    """Only keys older than their type's period go; a dry run destroys nothing."""
    store.data_key("old-incident", "incident", T0)
    store.data_key("young-incident", "incident", T0 + 20 * DAY)
    store.data_key("old-risk", "risk", T0)
    rules = policy(incident=30, risk=60)
    now = T0 + 30 * DAY
    dry = purge(store, rules, now, dry_run=True)
    assert [i.entry.notice_id for i in dry.items] == ["old-incident"]
    assert dry.destroyed == 0
    assert store.lookup("old-incident") is not None
    report = purge(store, rules, now)
    assert report.destroyed == 1
    assert report.kept == 2
    assert store.lookup("old-incident") is None
    assert store.lookup("young-incident") is not None
    assert store.lookup("old-risk") is not None
    assert purge(store, rules, now).destroyed == 0  # idempotent


def test_a_type_without_a_rule_is_reported_and_kept(store: retention.DataKeyStore) -> None:
    """Keys are never destroyed without a rule saying so, but they are listed for an operator."""
    store.data_key("n-1", "retired-type", T0)
    report = purge(store, policy(incident=15), T0 + 400 * DAY)
    assert [(i.entry.notice_id, i.action) for i in report.items] == [("n-1", "keep-no-rule")]
    assert store.lookup("n-1") is not None


def test_a_destroyed_key_is_never_recreated(store: retention.DataKeyStore) -> None:
    """A replayed old notice cannot revive its key: the store refuses with a stable code."""
    store.data_key("n-1", "incident", T0)
    store.destroy(["n-1"], T0 + DAY)
    with pytest.raises(NoticeError) as caught:
        store.data_key("n-1", "incident", T0 + 2 * DAY)
    assert caught.value.code == "data-key-destroyed"


def _sealed_delivery(
    tmp_path: Path, store: retention.DataKeyStore
) -> tuple[sealing.SealedMessage, KeyPaths]:
    paths = KeyPaths.under(tmp_path / "k")
    keyfiles.generate(paths, KeyKind.broker, "broker", T0)
    keyfiles.generate(paths, KeyKind.recipient, "skole-9001", T0)
    registry = keyfiles.load_registry(paths.registry)
    sealer = sealing.DeliverySealer(
        registry, keyfiles.signing_key(paths, registry, KeyKind.broker, "broker")
    )
    delivery = Delivery(
        delivery_id="d-1",
        notice_type="incident",
        recipient="school",
        organisation="skole-9001",
        rule_id="r",
        legal_basis=LegalBasisRef(
            id="x", statute="s", citation="§", status="confirmed", source="https://lovdata.no/"
        ),
        purpose="p",
        policy_version="v",
        fields_withheld=[],
        notice={"child": {"name": "Kari Nordmann"}},
    )
    message = sealer.seal(
        delivery,
        data_key=store.data_key("n-1", "incident", T0),
        delivery_id="d-1",
        organisation="skole-9001",
        event_type="no.oslo.broker.delivery.v1",
        source="/broker",
        time=T0,
        key=None,
    )
    return message, paths


def test_after_purge_the_broker_can_no_longer_read_the_delivery(
    tmp_path: Path, store: retention.DataKeyStore
) -> None:
    """Within retention the data key opens the Kafka copy; after purge it is gone for good,
    and the audit commitment to the ciphertext still checks."""
    message, _ = _sealed_delivery(tmp_path, store)
    sealed = sealing.parse_sealed(message.value)
    before = sealing.open_with_data_key(
        sealed, delivery_id="d-1", owner="skole-9001", data_key=store.lookup("n-1")
    )
    assert b"Kari Nordmann" in before
    purge(store, policy(incident=180), T0 + 181 * DAY)
    with pytest.raises(sealing.DecryptionError) as caught:
        sealing.open_with_data_key(
            sealed, delivery_id="d-1", owner="skole-9001", data_key=store.lookup("n-1")
        )
    assert caught.value.code == "data-key-destroyed"
    assert sealing.commitment(message.value) == message.commitment


def test_a_recipient_copy_survives_purge_by_design(
    tmp_path: Path, store: retention.DataKeyStore
) -> None:
    """Documented trade-off (docs/threat-model.md): purge shreds the broker's copy; a recipient
    holding its private key still opens what it lawfully received until its key is destroyed."""
    message, paths = _sealed_delivery(tmp_path, store)
    purge(store, policy(incident=15), T0 + 16 * DAY)
    registry = keyfiles.load_registry(paths.registry)
    opener = sealing.DeliveryOpener(
        registry, "skole-9001", keyfiles.decryption_keys(paths, registry, "skole-9001")
    )
    assert opener.open(dict(message.headers), message.value)["notice"]["child"]["name"] == (
        "Kari Nordmann"
    )
    entry = registry.active(KeyKind.recipient, "skole-9001")
    assert entry is not None
    keyfiles.retire(paths, entry.key_id, T0, destroy_private=True)
    with pytest.raises(Exception, match="no private key on this host"):
        keyfiles.decryption_keys(paths, keyfiles.load_registry(paths.registry), "skole-9001")


def test_purge_command_dry_run_then_purge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`broker retention purge --dry-run` lists and keeps; without it the keys are destroyed."""
    monkeypatch.setenv("BROKER_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    path = tmp_path / "keys" / "data-keys.sqlite3"
    with SqliteDataKeyStore(path) as s:
        s.data_key("11111111-old", "incident", datetime.now(UTC) - 400 * DAY)
        s.data_key("22222222-new", "incident", datetime.now(UTC))
    runner = CliRunner()
    dry = runner.invoke(app, ["purge", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "11111111-old" in dry.output
    assert "22222222-new" not in dry.output
    assert "would destroy" in dry.output
    with SqliteDataKeyStore(path) as s:
        assert s.lookup("11111111-old") is not None
    done = runner.invoke(app, ["purge"])
    assert done.exit_code == 0, done.output
    assert "1 data keys destroyed" in done.output
    with SqliteDataKeyStore(path) as s:
        assert s.lookup("11111111-old") is None
        assert s.lookup("22222222-new") is not None
    status = runner.invoke(app, ["status"])
    assert status.exit_code == 0
    assert "incident" in status.output


def test_retention_may_not_be_shorter_than_the_delivery_topics_keep_deliveries() -> None:
    """A key destroyed while Kafka still holds the delivery would make purge a half-measure."""
    with pytest.raises(ValueError, match="greater than or equal to 15"):
        RetentionRule(notice_type="incident", days=14, reason=REASON, status="inferred")


def test_the_retention_text_is_parsed_in_the_core() -> None:
    """The rules come from the text alone (the adapter reads the file); problems name the
    source given."""
    text = (ROOT / "policies" / "retention.yaml").read_text(encoding="utf-8")
    assert parse_retention(text, "x.yaml").period("incident") is not None
    with pytest.raises(PolicyError) as caught:
        parse_retention("retention: [", "x.yaml")
    assert caught.value.file == "x.yaml"
    assert caught.value.problems[0].startswith("not valid YAML")


def test_inbox_keys_are_due_once_rotated_out_longer_than_the_longest_period() -> None:
    """Only rotated or retired inbox keys count, from when they stopped being active."""
    made = MemoryKeys.generate(T0, organisations=["skole-9002"], units={})
    active = made.registry.active(KeyKind.recipient, sealing.BROKER_INBOX)
    assert active is not None
    rotated = active.model_copy(update={"status": KeyStatus.rotated, "rotated_at": T0 + DAY})
    registry = made.registry.replace(rotated)
    rules = policy(incident=30)
    assert inbox_keys_due(made.registry, rules, T0 + 400 * DAY) == []  # active: never
    assert inbox_keys_due(registry, rules, T0 + 31 * DAY) == []
    assert inbox_keys_due(registry, rules, T0 + 32 * DAY) == [rotated]
