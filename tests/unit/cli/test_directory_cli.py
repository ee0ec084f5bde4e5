"""`broker directory check|list`: the directory validated and shown as a table."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import POLICIES


def _broker(policy_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BROKER_POLICY_DIR": str(policy_dir), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "broker", "directory", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_check_passes_on_the_shipped_directory() -> None:
    done = _broker(POLICIES, "check")
    assert done.returncode == 0, done.stderr
    assert "directory OK" in done.stdout
    assert "version sha256:" in done.stdout


def test_list_shows_each_school_with_its_own_topic() -> None:
    done = _broker(POLICIES, "list", "--kind", "school")
    assert done.returncode == 0, done.stderr
    assert "osloskolen-9001" in done.stdout
    assert "deliveries.school.skole-9001" in done.stdout
    assert "child-welfare" not in done.stdout


def test_a_bad_directory_is_named_without_a_traceback(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies)
    (policies / "directory.yaml").write_text(
        "organisations:\n  - {id: skole-x, name: X, kind: bakery}\n", encoding="utf-8"
    )
    done = _broker(policies, "check")
    assert done.returncode == 2
    assert "directory.yaml" in done.stderr
    assert "skole-x: kind: 'bakery' is not a recipient" in done.stderr
    assert "Traceback" not in done.stderr
