"""The real system on this machine, for the demo, the integration tests, benchmarks and drills:
topics, ACLs and local keys for a run, a `broker worker` in a process of its own, and
`broker …` commands. Nothing is faked: each process is the one an operator runs."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import subprocess
import sys
import time
from pathlib import Path

from broker.adapters.kafka.admin import apply, planned
from broker.adapters.kafka.clients import ensure_topics
from broker.adapters.kafka.tls.contexts import Profile
from broker.adapters.policy_files import load_directory, load_policy
from broker.adapters.settings import Settings
from broker.adapters.stores.devkeys import ensure_dev_keys
from broker.core.deployment.acl import Principals
from broker.core.deployment.topics import topic_plan


def create_topics(settings: Settings) -> Path | None:
    """The topics of ``settings`` (and the local keys a run needs); in the secure profile also
    the ACLs that let each principal do exactly its part on them. Returns where stale local
    keys were moved aside, if they were (broker.adapters.stores.devkeys)."""
    moved = ensure_dev_keys(settings)
    if settings.kafka.profile is Profile.secure:
        acls, specs = planned(settings)
        asyncio.run(
            apply(settings.bootstrap, settings.kafka, acls, specs, prefix=settings.topic_prefix)
        )
        return moved
    directory = load_directory(load_policy(settings.policy_dir))
    specs = topic_plan(settings.topics, directory, settings.replication)
    asyncio.run(
        ensure_topics(settings.bootstrap, specs, options=settings.kafka.options(Principals().admin))
    )
    return moved


def broker_command(
    settings: Settings,
    *args: str,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run `broker ARGS…` for ``settings`` and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "broker", *args],
        env=settings.process_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclasses.dataclass
class WorkerProcess:
    """A real `broker worker` in its own process, logging to a file."""

    settings: Settings
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    env_extra: dict[str, str] = dataclasses.field(default_factory=dict)

    def start(self, wait_ready: bool = True, timeout: float = 90) -> None:
        ensure_dev_keys(self.settings)
        env = {**self.settings.process_env(), **self.env_extra}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        start_at = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "broker", "worker"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
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
