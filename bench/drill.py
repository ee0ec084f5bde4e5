"""Multi-worker drill on a three-node Kafka cluster of its own (prints a table; not a test).

    .venv/bin/python bench/drill.py [--notices 3000] [--rate 40] [--workers 2]

Starts a secure three-node KRaft cluster (replication 3, min.insync.replicas 2), runs
``--workers`` workers in one group, and publishes notices at a steady rate while it adds a
worker, kill -9s one worker (restarting it), kill -9s the Kafka node that leads the audit
topic, stops a worker (the group shrinks) and brings the node back. Then it checks, read
committed, that every notice has exactly one decision per recipient and every delivery is on
its topic exactly once, that the audit log verifies, and counts the deliveries again with an
independent client (librdkafka through confluent-kafka, read committed).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition
from rich.console import Console
from rich.table import Table

from broker.adapters.kafka.local import free_ports
from broker.adapters.kafka.tls.credentials import Credentials
from broker.adapters.settings import Settings
from broker.core.deployment.acl import Principals
from broker.services.local import WorkerProcess, create_topics
from broker.testing.cluster import Cluster, leader
from broker.testing.processes import DrillEvent, DrillReport, fault_drill, fresh_settings

ROOT = Path(__file__).resolve().parent.parent  # the checkout: deploy/kafka.sh, policies/
console = Console()


def independent_count(s: Settings) -> Counter[str]:
    """Delivery records per delivery topic, read committed by librdkafka (not aiokafka), and
    the number of distinct deliveries among them (their ``ce_id``) under ``keys``."""
    creds = Credentials(s.kafka.credentials_dir, Principals().admin)
    consumer = Consumer(
        {
            "bootstrap.servers": s.bootstrap,
            "security.protocol": "SSL",
            "ssl.ca.location": str(creds.ca),
            "ssl.certificate.location": str(creds.cert),
            "ssl.key.location": str(creds.key),
            "group.id": f"{s.topic_prefix}independent-count",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    counts: Counter[str] = Counter()
    keys: set[bytes] = set()
    try:
        topics = [t for t in consumer.list_topics(timeout=30).topics if _delivery(s, t)]
        parts = [
            TopicPartition(t, p)
            for t in topics
            for p in consumer.list_topics(t, timeout=30).topics[t].partitions
        ]
        ends = {(tp.topic, tp.partition): consumer.get_watermark_offsets(tp)[1] for tp in parts}
        todo = {k for k, end in ends.items() if end > 0}
        consumer.assign([TopicPartition(t, p, 0) for t, p in todo])
        deadline = time.monotonic() + 120
        while todo and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None or msg.error():
                continue
            topic, partition, offset = str(msg.topic()), int(msg.partition() or 0), msg.offset()
            counts[topic] += 1
            ce_id = dict(msg.headers() or []).get("ce_id")
            keys.add(ce_id if isinstance(ce_id, bytes) else b"")
            if offset is not None and offset + 1 >= ends[(topic, partition)]:
                todo.discard((topic, partition))
            # a transaction marker may be the last offset: the position passes it
            for tp in consumer.position([TopicPartition(t, p) for t, p in list(todo)]):
                if tp.offset >= ends[(tp.topic, tp.partition)]:
                    todo.discard((tp.topic, tp.partition))
    finally:
        consumer.close()
    counts["keys"] = len(keys)
    return counts


def _delivery(s: Settings, topic: str) -> bool:
    return topic.startswith(f"{s.topic_prefix}deliveries.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--notices", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=40.0)
    parser.add_argument("--workers", type=int, default=2, help="workers at the start (2 or 3)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="drill-"))
    shutil.copytree(ROOT / "policies", work / "policies")  # edits during the drill change nothing
    cluster = Cluster(
        work / "kafka", free_ports(6), work / "policies", script=ROOT / "deploy" / "kafka.sh"
    )
    console.print(f"starting a three-node Kafka of its own ({cluster.bootstrap})")
    cluster.start()
    workers: list[WorkerProcess] = []
    try:
        base = dataclasses.replace(
            Settings.from_env(), state_dir=work / "state", policies=work / "policies"
        )
        settings = fresh_settings(cluster.settings(base), tag="drill")
        create_topics(settings)
        victim = asyncio.run(leader(settings, settings.topics.audit))
        workers = [WorkerProcess(settings, work / f"worker-{n}.log") for n in range(args.workers)]
        for w in workers:
            w.start()
        extra = WorkerProcess(settings, work / "worker-added.log")

        def add() -> None:
            extra.start()
            workers.append(extra)

        def kill_restart() -> None:
            workers[0].kill()
            workers[0].start()

        def remove() -> None:
            workers[1].stop()

        events = [
            DrillEvent(0.15, "add a worker", add),
            DrillEvent(0.35, "kill -9 worker 0; restarting it", kill_restart),
            DrillEvent(
                0.5,
                f"kill -9 Kafka node {victim} (leads the audit topic)",
                lambda: cluster.kill(victim),
            ),
            DrillEvent(0.65, "stop worker 1 (the group shrinks)", remove),
            DrillEvent(0.85, f"start Kafka node {victim} again", lambda: cluster.restart(victim)),
        ]
        started = time.monotonic()
        report = asyncio.run(
            fault_drill(
                settings,
                workers[0],
                notices=args.notices,
                rate=args.rate,
                kills=0,
                events=events,
                settle_timeout=180,
                say=console.print,
            )
        )
        console.print(f"  {time.monotonic() - started:6.1f} s  counting again with librdkafka")
        counted = independent_count(settings)
    finally:
        for w in workers:
            w.stop()
        cluster.stop()
    show(report, counted, args)
    ok = report.ok and counted["keys"] == report.deliveries == sum(
        v for k, v in counted.items() if k != "keys"
    )
    if ok:
        shutil.rmtree(work, ignore_errors=True)
    else:
        console.print(f"kept {work} (worker logs, kafka/) for a look")
    raise SystemExit(0 if ok else 1)


def show(report: DrillReport, counted: Counter[str], args: argparse.Namespace) -> None:
    table = Table(
        "measure",
        "value",
        title=f"multi-worker drill: {args.workers} workers, +1, −1, a node killed",
    )
    for f in dataclasses.fields(report):
        value = getattr(report, f.name)
        table.add_row(
            f.name.replace("_", " "), f"{value:.1f}" if isinstance(value, float) else str(value)
        )
    on_topics = sum(v for k, v in counted.items() if k != "keys")
    table.add_row("deliveries, independent count (librdkafka)", str(on_topics))
    table.add_row("distinct delivery keys, independent count", str(counted["keys"]))
    same = counted["keys"] == report.deliveries == on_topics
    table.add_row(
        "[bold]exactly once, nothing missing[/]",
        "[green]yes[/]" if report.ok and same else "[red]NO[/]",
    )
    console.print(table)


if __name__ == "__main__":
    main()
