"""Where the pipeline's own time goes, per notice, in process (no Kafka): by step and by kind of
work. Imported by bench/breakdown.py (`python bench/breakdown.py pipeline`).

By step: each step of broker.core.pipeline is wrapped with a timer (open the sealed notice,
verify its signature, decode it, decide and redact per recipient, seal each delivery, build
and sign each audit record, …). By kind: one cProfile run, each function's own time put into
public-key work, symmetric crypto, pydantic, JSON, CEL or other Python.
"""

from __future__ import annotations

import cProfile
import json
import pstats
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from broker.adapters.policy_files import load_policy
from broker.core import decisions, envelope
from broker.core.crypto import sealing, signing
from broker.core.pipeline import Pipeline, Source
from broker.testing.fakes import ready_pipeline
from broker.testing.processes import synthetic_notices

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # the notices' time and the pipeline's clock
BATCH = 100  # notices per batch (one SealBatch each), as a busy worker's transactions hold

# (label, owner, attribute): what is timed, in the order of the pipeline; inner steps are
# subtracted from the step that calls them, so the rows add up to the whole
STEPS: list[tuple[str, Any, str]] = [
    ("open (HPKE unseal of the notice)", Pipeline, "_open"),
    ("verify (Ed25519, key, time, replay)", signing.NoticeVerifier, "verify"),
    ("decode (JSON → pydantic notice)", envelope, "decode_notice"),
    ("case (facts, CEL context)", decisions.Case, "of"),
    ("decide + redact (per recipient)", decisions, "verdict"),
    ("decision + delivery models", decisions, "decision"),
    ("seal (HPKE + AES-GCM + Ed25519 sign)", Pipeline, "_seal"),
    ("audit record model", decisions, "audit_record"),
    ("audit message (JSON + Ed25519 sign)", Pipeline, "_audit_message"),
]

KINDS = [
    ("public-key (Ed25519, X25519/HPKE)", ("sign", "verify", "encrypt", "decrypt", "exchange")),
    ("symmetric (AES-GCM, HKDF, SHA-256)", ("aesgcm", "hkdf", "sha256", "derive", "hmac")),
    ("pydantic (validate, serialise)", ("pydantic", "model_dump", "model_validate", "validate")),
    ("JSON (json, rfc8785)", ("json", "rfc8785")),
    ("CEL", ("celpy", "cel", "evaluate")),
]


def notices(n: int) -> Iterator[dict[str, Any]]:
    for doc in synthetic_notices(n, seed=3):
        doc["issued_at"] = NOW.isoformat().replace("+00:00", "Z")
        yield doc


def prepared(n: int) -> tuple[Any, list[tuple[list[Any], bytes]]]:
    """A pipeline as the worker wires it (keys in memory) and ``n`` notices sealed to it."""
    ready = ready_pipeline(load_policy(ROOT / "policies"), now=NOW)
    inputs = []
    for doc in notices(n):
        headers, value = ready.publish(json.dumps(doc).encode(), ready.headers(doc))
        inputs.append((headers, value))
    return ready, inputs


@contextmanager
def timed_steps() -> Iterator[dict[str, float]]:
    """Each STEPS function wrapped: its time less that of the timed steps it calls."""
    spent: dict[str, float] = defaultdict(float)
    stack: list[float] = []  # per active step: the time its timed callees took
    saved = []
    for label, owner, name in STEPS:
        original = owner.__dict__[name]
        func = original.__func__ if isinstance(original, (classmethod, staticmethod)) else original

        def wrapper(*a: Any, _f: Callable[..., Any] = func, _l: str = label, **k: Any) -> Any:
            stack.append(0.0)
            t0 = time.perf_counter()
            try:
                return _f(*a, **k)
            finally:
                took = time.perf_counter() - t0
                inner = stack.pop()
                spent[_l] += took - inner
                if stack:
                    stack[-1] += took

        replacement = classmethod(wrapper) if isinstance(original, classmethod) else wrapper
        saved.append((owner, name, original))
        setattr(owner, name, replacement)
    try:
        yield spent
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


def by_step(n: int, per_batch: int = BATCH) -> tuple[dict[str, float], float, int]:
    """Seconds per step over ``n`` notices, ``per_batch`` to a batch (its batch keys), the
    whole time, and the deliveries made."""
    ready, inputs = prepared(n)
    delivered = 0
    with timed_steps() as spent:
        t0 = time.perf_counter()
        for i, (headers, value) in enumerate(inputs):
            if i % per_batch == 0:
                batch = sealing.SealBatch()
            result = ready.pipeline.process(value, headers, Source("t.notices", 0, i), batch=batch)
            delivered += len(result.deliveries)
        whole = time.perf_counter() - t0
    return dict(spent), whole, delivered


def by_kind(n: int) -> tuple[dict[str, float], float]:
    """Seconds per kind of work (cProfile's own time per function, classified by name)."""
    ready, inputs = prepared(n)
    profiler = cProfile.Profile()
    profiler.enable()
    for i, (headers, value) in enumerate(inputs):
        if i % BATCH == 0:
            batch = sealing.SealBatch()
        ready.pipeline.process(value, headers, Source("t.notices", 0, i), batch=batch)
    profiler.disable()
    stats = pstats.Stats(profiler)
    kinds: dict[str, float] = defaultdict(float)
    total = 0.0
    for (file, _line, func), row in stats.stats.items():  # type: ignore[attr-defined]
        own = row[2]
        total += own
        kinds[classify(file, func)] += own
    return dict(kinds), total


def classify(file: str, func: str) -> str:
    where = f"{file} {func}".lower()
    if file == "~":  # a builtin or C method: name it by what it is
        where = func.lower()
    for label, words in KINDS:
        if any(w in where for w in words) and (file == "~" or "site-packages" in file):
            return label
    if "/broker/" in file:
        return "broker's own Python"
    return "other (stdlib, libraries)"
