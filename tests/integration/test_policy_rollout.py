"""A rolling policy change by restart order: two workers in one group decide under version A;
worker B is stopped and started with version B (a purpose text changed); a third worker given
a policy whose test cases fail exits non-zero with the gate's message while the others keep
deciding. Every decision names version A or B, and each notice's decisions share one."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from broker.adapters.policy_files import load_policy
from broker.adapters.settings import Settings
from broker.core.deployment.acl import Principals
from broker.services.local import WorkerProcess, create_topics
from broker.testing.processes import fresh_settings
from tests.integration.test_replay_workers import (
    _audit_until,
    _both_deciding,
    _decided,
    _police,
    _publish,
)

pytestmark = pytest.mark.integration
WHO = Principals()


def _edited(src: Path, dest: Path, file: str, old: str, new: str) -> Path:
    shutil.copytree(src, dest)
    text = (dest / file).read_text(encoding="utf-8")
    assert old in text
    (dest / file).write_text(text.replace(old, new, 1), encoding="utf-8")
    return dest


def test_workers_move_to_a_new_policy_one_restart_at_a_time(kafka: str, tmp_path: Path) -> None:
    base = dataclasses.replace(Settings.from_env(), bootstrap=kafka, state_dir=tmp_path / "state")
    s = fresh_settings(base, tag="rollout")
    create_topics(s)
    old_dir = s.policy_dir
    purpose = "en: The police's duty"
    new_dir = _edited(
        old_dir, tmp_path / "policy-b", "rules.yaml", purpose, purpose.replace("'", "\u2019")
    )
    bad_dir = _edited(
        old_dir, tmp_path / "policy-bad", "tests/police.yaml", "decision: deliver", "decision: deny"
    )
    version_a, version_b = load_policy(old_dir).version, load_policy(new_dir).version
    assert version_a != version_b
    a = WorkerProcess(s, tmp_path / "worker-a.log")
    b = WorkerProcess(s, tmp_path / "worker-b.log")
    a.start()
    b.start()
    ids: set[str] = set()

    def publish_and_wait(seed: int) -> None:
        batch = _police(s, 12, seed=seed)
        _publish(s, [m for _, m in batch], WHO.publisher("police"))
        ids.update(i for i, _ in batch)
        _audit_until(s, lambda out: ids <= _decided(out))

    refused = WorkerProcess(dataclasses.replace(s, policies=bad_dir), tmp_path / "worker-c.log")
    try:
        _both_deciding(s, [a, b])
        publish_and_wait(seed=11)
        assert b.stop() == 0  # worker B moves: stop, start with the new policy
        b = WorkerProcess(dataclasses.replace(s, policies=new_dir), tmp_path / "worker-b2.log")
        b.start()
        _both_deciding(s, [a, b])
        publish_and_wait(seed=12)
        with pytest.raises(RuntimeError, match="worker exited"):
            refused.start()  # a policy whose checks fail: refused, the others keep deciding
        publish_and_wait(seed=13)
        records = _audit_until(s, lambda out: ids <= _decided(out))
    finally:
        codes = [a.stop(), b.stop()]
    assert codes == [0, 0]
    assert refused.process is not None
    assert refused.process.returncode not in (0, None)
    assert "policy invalid, worker not started" in refused.log()
    decisions = [d for d in records if d["event"] == "decision"]
    assert ids <= {d["notice_id"] for d in decisions}
    assert {d["policy_version"] for d in decisions} == {version_a, version_b}
    per_notice: dict[str, set[str]] = {}
    for d in decisions:
        per_notice.setdefault(d["notice_id"], set()).add(d["policy_version"])
    assert all(len(v) == 1 for v in per_notice.values()), per_notice
