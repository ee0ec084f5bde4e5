"""Fault drill on a real Kafka broker of its own (prints a table; not a test).

    .venv/bin/python bench/faults.py [--notices 10000] [--rate 250] [--kills 10]

Starts a separate single-node Kafka (port 29092, its own data dir) so the drill may restart
it, runs a worker, publishes the notices at a steady rate while kill -9'ing the worker at
random moments and restarting the broker once, then checks, read committed, that every notice
has exactly one decision per recipient and every delivery appears exactly once.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from broker.adapters.settings import Settings
from broker.services.local import WorkerProcess, create_topics
from broker.testing.processes import DrillEvent, fault_drill, fresh_settings

ROOT = Path(__file__).resolve().parent.parent  # the checkout: deploy/kafka.sh, policies/
console = Console()
PORT = 29092


def kafka(command: str, data: Path) -> None:
    env = {**os.environ, "KAFKA_PORT": str(PORT), "KAFKA_DATA_DIR": str(data)}
    subprocess.run(
        ["bash", str(ROOT / "deploy" / "kafka.sh"), command],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--notices", type=int, default=10000)
    parser.add_argument("--rate", type=float, default=250.0)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--no-broker-restart", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="faults-"))
    data = work / "kafka"
    console.print(f"starting a Kafka of its own on 127.0.0.1:{PORT} ({data})")
    kafka("start", data)
    try:
        # a snapshot of the policies, so edits during the drill cannot change the outcome
        shutil.copytree(ROOT / "policies", work / "policies")
        base = dataclasses.replace(
            Settings.from_env(),
            bootstrap=f"127.0.0.1:{PORT}",
            state_dir=work / "state",
            policies=work / "policies",
        )
        settings = fresh_settings(base, tag="faults")
        create_topics(settings)
        worker = WorkerProcess(settings, work / "worker.log")
        worker.start()

        def restart() -> None:
            kafka("stop", data)
            kafka("start", data)

        report = asyncio.run(
            fault_drill(
                settings,
                worker,
                notices=args.notices,
                rate=args.rate,
                kills=args.kills,
                events=()
                if args.no_broker_restart
                else [DrillEvent(0.5, "restarting the Kafka broker", restart)],
                say=console.print,
            )
        )
        worker.stop()
    finally:
        kafka("stop", data)
    table = Table("measure", "value", title="fault drill: kill -9 and broker restart")
    for f in dataclasses.fields(report):
        value = getattr(report, f.name)
        table.add_row(
            f.name.replace("_", " "), f"{value:.1f}" if isinstance(value, float) else str(value)
        )
    table.add_row(
        "[bold]exactly once, nothing missing[/]", "[green]yes[/]" if report.ok else "[red]NO[/]"
    )
    console.print(table)
    if report.ok:
        shutil.rmtree(work, ignore_errors=True)
    else:
        console.print(f"kept {work} (worker.log, kafka/) for a look")
    raise SystemExit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
