"""Shared fixtures: the shipped policies and examples, a notice factory and the clock.

Like the checkout's dev scripts (deploy/venv.sh), the tests keep their state in var/ and read
the checkout's policies/, unless the environment names others."""

from __future__ import annotations

import base64
import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from broker.adapters.examples import EXAMPLES
from broker.adapters.policy_files import load_policy
from broker.core import national_id
from broker.core.policy import PolicySet
from broker.testing.fakes import ReadyPipeline, ready_pipeline

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
os.environ.setdefault("BROKER_STATE_DIR", str(ROOT / "var"))
os.environ.setdefault("BROKER_POLICY_DIR", str(POLICIES))
SUBJECT_KEY = b"unit-test-subject-key-0123456789abcdef"
# The moment the examples' dates were written for; redate() moves them from it to a clock.
EXAMPLES_SENT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}.*")


def example(name: str, now: datetime | None = None) -> dict[str, Any]:
    """An example notice as shipped or, given ``now``, with its dates moved to that clock."""
    matches = sorted(EXAMPLES.glob(f"*{name}*.json"))
    assert len(matches) == 1, name
    data: dict[str, Any] = json.loads(matches[0].read_text(encoding="utf-8"))
    return data if now is None else redate(data, now)


def redate(doc: Any, now: datetime) -> Any:
    """``doc`` as if sent at ``now`` instead of EXAMPLES_SENT: timestamps move by the
    difference, dates (birth dates too, with the national ids that encode them) by as many
    whole days, so every child is as old when the notice is issued as in the example."""
    shift = now - EXAMPLES_SENT
    days = timedelta(days=round(shift / timedelta(days=1)))
    if isinstance(doc, dict):
        return {
            k: _redate_id(v, days) if k == "national_id" else redate(v, now) for k, v in doc.items()
        }
    if isinstance(doc, list):
        return [redate(v, now) for v in doc]
    if isinstance(doc, str) and _DATE.fullmatch(doc):
        return (date.fromisoformat(doc) + days).isoformat()
    if isinstance(doc, str) and _DATETIME.fullmatch(doc):
        return (datetime.fromisoformat(doc) + shift).isoformat()
    return doc


def _redate_id(number: Any, days: timedelta) -> Any:
    try:
        born = national_id.birth_date_of(number)
    except (TypeError, ValueError):
        return number  # not a valid number: left for the test to be refused as it is
    return national_id.synthetic(born + days, int(number[6:9]))


def ce_headers(doc: dict[str, Any], now: datetime) -> list[tuple[str, bytes]]:
    """CloudEvent headers for ``doc``, sent at ``now`` (the clock that will check them)."""
    return [
        ("ce_specversion", b"1.0"),
        ("ce_type", f"no.oslo.broker.{doc.get('notice_type')}-notice.v1".encode()),
        ("ce_source", b"/police/test"),
        ("ce_id", str(doc.get("notice_id")).encode()),
        ("ce_time", now.astimezone(UTC).isoformat().encode()),
        ("content-type", b"application/json"),
    ]


@pytest.fixture
def now() -> datetime:
    """The tests' clock: the real time, read once per test. The dates that a clock checks are
    built from it, so that notices look the same on any day (deploy/test.sh also runs the unit
    tests 400 days ahead)."""
    return datetime.now(UTC)


@pytest.fixture(scope="session")
def policy() -> PolicySet:
    return load_policy(POLICIES)


@pytest.fixture
def ready(policy: PolicySet, now: datetime) -> ReadyPipeline:
    """The pipeline as the worker builds it (signed and sealed notices in, sealed deliveries
    and signed audit records out), with keys in memory and the clock stopped at ``now``."""
    return ready_pipeline(policy, now=now, subject_key=SUBJECT_KEY)


@pytest.fixture
def notice(now: datetime) -> Callable[..., dict[str, Any]]:
    """A copy of an example notice dated for ``now``, with top-level or dotted-path overrides."""

    def make(name: str = "recruited", **changes: Any) -> dict[str, Any]:
        doc = example(name, now)
        for path, value in changes.items():
            target = doc
            *parents, last = path.split("__")
            for p in parents:
                target = target[p]
            if value is None:
                target.pop(last, None)
            else:
                target[last] = value
        return doc

    return make


def run_broker(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`broker ARGS…` in a process of its own, as a user runs it: output, errors, exit code."""
    return subprocess.run(
        [sys.executable, "-m", "broker", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "250", **(env or {})},
        check=False,
        timeout=timeout,
    )


def file_mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def wide_umask() -> Iterator[None]:
    """A permissive umask, so 0600/0700 must come from the code, not the environment."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def secret_forms(pem: bytes) -> list[str]:
    """Every way a private key (PKCS #8 PEM) could show up in text: PEM body lines, raw bytes
    in hex and base64 (standard and url-safe)."""
    private = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(private, Ed25519PrivateKey | X25519PrivateKey)  # the kinds we issue
    raw = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    body = [line for line in pem.decode().splitlines() if not line.startswith("-----")]
    return [
        *body,
        raw.hex(),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    ]
