"""`broker demo` end to end on its own secure Kafka: it balances, verifies, and shows one
disclosure's duty to inform going from open to closed (step 6b), in bokmål (the default)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import POLICIES, ROOT

pytestmark = pytest.mark.integration


def test_the_demo_opens_and_closes_a_duty_to_inform(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BROKER_", "KAFKA_"))  # the demo starts a Kafka of its own
    }
    env |= {
        "BROKER_STATE_DIR": str(tmp_path),
        "BROKER_POLICY_DIR": str(POLICIES),
        "KAFKA_LIB_DIR": os.environ.get("KAFKA_LIB_DIR", str(ROOT / "deploy" / "kafka" / "lib")),
        "COLUMNS": "200",
    }
    run = subprocess.run(
        [sys.executable, "-m", "broker", "demo"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    lines = run.stdout.splitlines()
    before = next(line for line in lines if line.startswith("før:"))
    after = next(line for line in lines if line.startswith("etter:"))
    assert "inform-data-subject" in before
    assert "open" in before  # the obligation's state, a code
    assert "closed" in after
    assert "attributed: an entitled writer signed every message" in run.stdout
    balance = run.stdout[run.stdout.index("alle inndata gjort rede for") :]
    assert "går opp" in balance
    assert any(" ja " in line for line in balance.splitlines()[:8])  # balanced: yes
    assert "hva hver virksomhet mottok" in run.stdout
