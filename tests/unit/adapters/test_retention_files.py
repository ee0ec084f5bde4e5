"""Retention's files: policies/retention.yaml as read (and refused, naming the file), and the
broker's rotated inbox key files destroyed once past retention."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from broker.adapters.retention_files import load_retention, shred_inbox_keys
from broker.adapters.stores import keyfiles
from broker.adapters.stores.keyfiles import KeyPaths
from broker.core.crypto import sealing
from broker.core.crypto.registry import KeyKind
from broker.core.errors import PolicyError
from broker.core.notices import NOTICE_MODELS
from broker.core.policy.model import PolicyText
from broker.core.retention import DEAD_LETTER_KIND, RetentionPolicy, RetentionRule
from tests.conftest import ROOT

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def policy(**days: int) -> RetentionPolicy:
    return RetentionPolicy(
        {
            t: RetentionRule(
                notice_type=t, days=d, reason=PolicyText(nb="prøve", en="test"), status="inferred"
            )
            for t, d in days.items()
        }
    )


def test_shipped_retention_policy_covers_every_notice_type() -> None:
    """policies/retention.yaml loads and names a period for every notice type there is, and
    for dead letters' sealed copies."""
    loaded = load_retention(ROOT / "policies")
    assert set(loaded.rules) == {t for t, _ in NOTICE_MODELS} | {DEAD_LETTER_KIND}
    assert all(loaded.period(t) for t in loaded.rules)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("days: 180", "days: 0", 1), "days: Input should be greater than"),
        (
            lambda t: t.replace("notice_type: risk", "notice_type: gossip"),
            "risk: no retention rule",
        ),
        (
            lambda t: t.replace("notice_type: risk", "notice_type: gossip"),
            "gossip: notice_type: unknown",
        ),
        (lambda t: t.replace("notice_type: risk", "notice_type: incident"), "more than one rule"),
        (lambda t: t.replace("retention:", "retain:"), "expected a top-level 'retention:' list"),
    ],
    ids=["zero days", "type missing", "unknown type", "duplicate", "wrong key"],
)
def test_bad_retention_policy_names_the_file_and_problem(
    tmp_path: Path, edit: Callable[[str], str], message: str
) -> None:
    """A broken retention file fails to load with its path and a reason naming the entry."""
    shutil.copytree(ROOT / "policies", tmp_path / "p")
    path = tmp_path / "p" / "retention.yaml"
    path.write_text(edit(path.read_text()))
    with pytest.raises(PolicyError) as caught:
        load_retention(tmp_path / "p")
    assert caught.value.file == str(path)
    assert any(message in p for p in caught.value.problems), caught.value.problems


def _sealed_notice(paths: KeyPaths, notice_id: str) -> tuple[dict[str, bytes], bytes]:
    registry = keyfiles.load_registry(paths.registry)
    headers = (("ce_id", notice_id.encode()), ("ce_type", b"no.oslo.broker.risk-notice.v1"))
    sealed_headers, value = sealing.seal_notice(headers, b'{"child": "Kari Nordmann"}', registry)
    return dict(sealed_headers), value


def test_purge_shreds_rotated_inbox_keys_past_retention(tmp_path: Path) -> None:
    """Notices (and dead letters) sealed to a broker inbox key rotated out more than the
    longest retention period ago can no longer be read by anyone; newer ones still can."""
    paths = KeyPaths.under(tmp_path / "keys")
    keyfiles.generate(paths, KeyKind.recipient, sealing.BROKER_INBOX, T0)
    old_headers, old_value = _sealed_notice(paths, "n-old")
    keyfiles.rotate(paths, KeyKind.recipient, sealing.BROKER_INBOX, T0 + 30 * DAY)
    new_headers, new_value = _sealed_notice(paths, "n-new")
    rules = policy(incident=180, risk=180)

    def opener() -> sealing.NoticeOpener:
        registry = keyfiles.load_registry(paths.registry)
        return sealing.NoticeOpener(keyfiles.decryption_keys(paths, registry, sealing.BROKER_INBOX))

    assert shred_inbox_keys(paths, T0 + 100 * DAY, rules) == []  # not yet due
    assert opener().open(old_headers, old_value) == b'{"child": "Kari Nordmann"}'
    due = T0 + 30 * DAY + 181 * DAY
    assert len(shred_inbox_keys(paths, due, rules, dry_run=True)) == 1
    assert opener().open(old_headers, old_value)  # a dry run destroys nothing
    assert len(shred_inbox_keys(paths, due, rules)) == 1
    with pytest.raises(sealing.DecryptionError):
        opener().open(old_headers, old_value)
    assert opener().open(new_headers, new_value) == b'{"child": "Kari Nordmann"}'
