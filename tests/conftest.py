"""Shared fixtures: the shipped policies and examples, and a notice factory."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from broker.pipeline import Pipeline
from broker.policy import PolicySet, load_policy
from broker.topics import TopicNames

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SUBJECT_KEY = b"unit-test-subject-key-0123456789abcdef"


def example(name: str) -> dict[str, Any]:
    matches = sorted(EXAMPLES.glob(f"*{name}*.json"))
    assert len(matches) == 1, name
    data: dict[str, Any] = json.loads(matches[0].read_text(encoding="utf-8"))
    return data


def ce_headers(doc: dict[str, Any]) -> list[tuple[str, bytes]]:
    return [
        ("ce_specversion", b"1.0"),
        ("ce_type", f"no.oslo.broker.{doc.get('notice_type')}-notice.v1".encode()),
        ("ce_source", b"/police/test"),
        ("ce_id", str(doc.get("notice_id")).encode()),
        ("ce_time", b"2026-11-26T10:00:00Z"),
        ("content-type", b"application/json"),
    ]


@pytest.fixture(scope="session")
def policy() -> PolicySet:
    return load_policy(ROOT / "policies")


@pytest.fixture
def pipeline(policy: PolicySet) -> Pipeline:
    return Pipeline(
        policy,
        TopicNames("t."),
        SUBJECT_KEY,
        clock=lambda: datetime(2026, 11, 26, 12, 0, tzinfo=UTC),
    )


@pytest.fixture
def notice() -> Callable[..., dict[str, Any]]:
    """A copy of an example notice, with top-level or dotted-path overrides."""

    def make(name: str = "recruited", **changes: Any) -> dict[str, Any]:
        doc = example(name)
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
