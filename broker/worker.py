"""The Faust worker: consume notices, call the pipeline, send what it returns.

Kept thin on purpose: every decision is made in broker.pipeline. Sends are awaited until
Kafka acknowledges them before the input is acknowledged, so a crash re-processes rather than
loses a notice (at least once; deliveries carry deterministic ids for deduplication).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust
import structlog

from broker.kafka import ensure_topics, wait_for_kafka
from broker.pipeline import OutMessage, Pipeline, Source
from broker.policy import load_policy
from broker.settings import Settings
from broker.topics import topic_specs

log = structlog.get_logger(__name__)


def create_app(settings: Settings) -> faust.App:
    policy = load_policy(settings.policy_dir)  # a bad policy file stops start-up here
    pipeline = Pipeline(policy, settings.topics, settings.subject_key())
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.bootstrap}",
        datadir=str(settings.state_dir / "faust"),
        web_enabled=False,  # no listener at all (and never on 0.0.0.0)
        web_host="127.0.0.1",
        stream_publish_on_commit=False,  # publish now, before the offset commits
        producer_acks=-1,
        producer_linger_ms=1,
        stream_wait_empty=True,
        consumer_auto_offset_reset="earliest",
        broker_commit_every=100,
        broker_commit_interval=1.0,
        topic_disable_leader=True,
    )
    notices = app.topic(
        settings.topics.notices,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )
    out_topics: dict[str, Any] = {}

    def out(name: str) -> Any:
        if name not in out_topics:
            out_topics[name] = app.topic(name, key_serializer="raw", value_serializer="raw")
        return out_topics[name]

    async def send(messages: list[OutMessage]) -> None:
        futures = [
            await out(m.topic).send(key=m.key, value=m.value, headers=list(m.headers), force=True)
            for m in messages
        ]
        await asyncio.gather(*futures)  # acknowledged by Kafka before the input is acked

    @app.agent(notices)
    async def process(stream: Any) -> None:
        async for event in stream.events():
            msg = event.message
            result = pipeline.process(
                msg.value, msg.headers, Source(msg.topic, msg.partition, msg.offset)
            )
            dead = [result.dead_letter] if result.dead_letter else []
            # deliveries first, then the records that describe them
            await send([*result.deliveries, *dead])
            await send(list(result.audit_records))
            if result.error:
                log.warning(
                    "notice.dead_lettered",
                    code=result.error.code,
                    source=f"{msg.topic}/{msg.partition}/{msg.offset}",
                )
            else:
                log.info(
                    "notice.decided",
                    notice_id=str(result.decisions[0].notice_id),
                    delivered=len(result.deliveries),
                    denied=len(result.decisions) - len(result.deliveries),
                )

    @app.task
    async def announce() -> None:
        log.info(
            "worker.ready",
            policy_version=policy.version,
            notices=settings.topics.notices,
            recipients=len(policy.recipients),
        )

    return app


def run(settings: Settings, loglevel: str = "info") -> None:
    """Ensure topics exist, then run the Faust worker until SIGTERM/SIGINT."""
    policy = load_policy(settings.policy_dir)
    specs = topic_specs(settings.topics, [r.topic for r in policy.recipients.values()])

    async def prepare() -> None:
        await wait_for_kafka(settings.bootstrap, timeout=300)
        created = await ensure_topics(settings.bootstrap, specs)
        if created:
            log.info("topics.created", topics=created)

    asyncio.run(prepare())
    app = create_app(settings)
    logging.getLogger("faust").setLevel(logging.WARNING)
    worker = faust.Worker(app, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()
