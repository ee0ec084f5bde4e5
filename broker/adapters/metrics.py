"""Prometheus metrics of the worker, served on 127.0.0.1 only (shell module)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

RECEIVED = Counter("broker_notices_received_total", "input messages committed")
DECISIONS = Counter(
    "broker_decisions_total", "decisions by recipient and outcome", ["recipient", "outcome"]
)
DEAD_LETTERED = Counter("broker_dead_lettered_total", "inputs dead-lettered", ["code"])
REPLAY_GUARD = Gauge("broker_replay_guard_entries", "notice ids the replay guard remembers")
LATENCY = Histogram(
    "broker_batch_seconds",
    "decide + commit time of a batch, per input",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

# the Kafka round trips of each commit (bench/profile.py reads them): the sends queued, their
# acknowledgements, the input offset added to the transaction, the commit itself
TRANSACTION_STEP = Histogram(
    "broker_transaction_step_seconds",
    "time of each step of a stage's commit transaction",
    ["stage", "step"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1),
)
BATCH_INPUTS = Histogram(
    "broker_batch_inputs",
    "inputs per commit transaction",
    ["stage"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
)


def serve(port: int) -> None:
    start_http_server(port, addr="127.0.0.1")
