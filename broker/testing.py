"""Helpers to run the real system in tests, benchmarks and drills (shell: starts processes).

Like structlog's ``testing`` module: shipped with the package so tests and benchmarks use the
real worker on a real Kafka instead of mocks.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from broker import national_id
from broker.kafka import ensure_topics
from broker.models import NOTICE_MODELS
from broker.pipeline import OutMessage
from broker.policy import load_policy
from broker.publisher import notice_message
from broker.settings import ROOT, Settings
from broker.topics import topic_specs

EXAMPLES = ROOT / "examples"


def templates() -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(EXAMPLES.glob("*.json"))]


def synthetic_notices(n: int, seed: int = 1) -> Iterator[dict[str, Any]]:
    """``n`` valid notices about invented children (synthetic national id numbers), built from
    the examples with a fresh notice id, child and birth date each."""
    rng = random.Random(seed)  # noqa: S311 - reproducible invented test data, not secrets
    bases = templates()
    for i in range(n):
        doc = copy.deepcopy(bases[i % len(bases)])
        born = date(2010, 1, 1) + timedelta(days=rng.randrange(0, 5 * 365))
        doc["notice_id"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        doc["child"]["birth_date"] = born.isoformat()
        doc["child"]["national_id"] = national_id.synthetic(born, rng.randrange(500, 900))
        yield doc


def encode(doc: dict[str, Any], settings: Settings) -> OutMessage:
    model = NOTICE_MODELS[(doc["notice_type"], 1)]
    return notice_message(model.model_validate(doc), settings)


def fresh_settings(base: Settings | None = None, tag: str = "t") -> Settings:
    prefix = f"{tag}-{uuid.uuid4().hex[:8]}."
    s = base or Settings.from_env()
    return dataclasses.replace(s, topic_prefix=prefix, app_id=f"{prefix}broker")


def create_topics(settings: Settings) -> None:
    policy = load_policy(settings.policy_dir)
    specs = topic_specs(settings.topics, [r.topic for r in policy.recipients.values()])
    asyncio.run(ensure_topics(settings.bootstrap, specs))


@dataclasses.dataclass
class WorkerProcess:
    """A real `broker worker` in its own process, logging to a file."""

    settings: Settings
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    env_extra: dict[str, str] = dataclasses.field(default_factory=dict)

    def start(self, wait_ready: bool = True, timeout: float = 90) -> None:
        env = {**os.environ, "BROKER_TOPIC_PREFIX": self.settings.topic_prefix,
               "BROKER_APP_ID": self.settings.app_id, "BROKER_BOOTSTRAP": self.settings.bootstrap,
               "BROKER_STATE_DIR": str(self.settings.state_dir), **self.env_extra}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        start_at = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "broker", "worker"], env=env,
                                            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        if wait_ready:
            deadline = time.monotonic() + timeout
            while "worker.ready" not in self.log()[start_at:]:
                if self.process.poll() is not None:
                    raise RuntimeError(f"worker exited:\n{self.log()[-3000:]}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"worker not ready:\n{self.log()[-3000:]}")
                time.sleep(0.1)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        """kill -9: no clean-up, no commit, like a crash."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM and wait for a clean exit."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def peak_rss_mib(self) -> float | None:
        """Peak resident memory (VmHWM) of the running worker."""
        if not self.process or self.process.poll() is not None:
            return None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return None
