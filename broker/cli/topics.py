"""`broker topics …`: operators create the Kafka topics the policy needs."""

from __future__ import annotations

import asyncio

import typer
from rich.table import Table

from broker.cli._common import out, settings

app = typer.Typer(no_args_is_help=True, help="Operators: Kafka topics.")


@app.command("create")
def create() -> None:
    """Create the topics that are missing (explicit partitions and configs)."""
    from broker.adapters.kafka.clients import ensure_topics
    from broker.adapters.policy_files import load_directory, load_policy
    from broker.core.deployment.topics import topic_plan

    s = settings()
    specs = topic_plan(s.topics, load_directory(load_policy(s.policy_dir)), s.replication)
    created = asyncio.run(ensure_topics(s.bootstrap, specs))
    table = Table("topic", "partitions", "replicas", "config", "status")
    for spec in specs:
        table.add_row(
            spec.name,
            str(spec.partitions),
            str(spec.replication.factor),
            ", ".join(f"{k}={v}" for k, v in spec.kafka_config.items()),
            "created" if spec.name in created else "exists",
        )
    out.print(table)
