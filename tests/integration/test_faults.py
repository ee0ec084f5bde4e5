"""Crash drill on the real broker: kill -9 the worker mid-stream; nothing lost, nothing twice.

A smaller run of bench/faults.py (which also restarts the broker and prints a table).
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
from pathlib import Path

import pytest

from broker.adapters.settings import Settings
from broker.services.local import WorkerProcess, create_topics
from broker.testing.processes import fault_drill, fresh_settings
from tests.conftest import ROOT
from tests.integration.conftest import assert_exactly_once

pytestmark = pytest.mark.integration


def test_kill_9_during_a_stream_loses_and_duplicates_nothing(kafka: str, tmp_path: Path) -> None:
    """Three kill -9s while 400 notices stream in: every notice gets exactly one decision per
    recipient and every delivery is on its topic once (read committed)."""
    shutil.copytree(ROOT / "policies", tmp_path / "policies")
    base = dataclasses.replace(
        Settings.from_env(),
        bootstrap=kafka,
        state_dir=tmp_path / "state",
        policies=tmp_path / "policies",
    )
    settings = fresh_settings(base, tag="crash")
    create_topics(settings)
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    try:
        report = asyncio.run(
            fault_drill(
                settings,
                worker,
                notices=400,
                rate=100,
                kills=3,
                settle_timeout=120,
                say=lambda _m: None,
            )
        )
    finally:
        worker.stop()
    assert_exactly_once(report, 400, worker.log())
