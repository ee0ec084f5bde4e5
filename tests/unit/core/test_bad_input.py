"""Generated malformed input never crashes the pipeline: each one is dead-lettered with a
reason and an audit record, or (if it happens to be valid) decided for every recipient. Each
input is published as a unit publishes (signed, sealed to the broker), so that it reaches the
checks behind the signature."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.core.pipeline import Result, Source
from broker.core.policy import PolicySet
from broker.testing.fakes import ReadyPipeline
from tests.conftest import example

SRC = Source("t.notices", 0, 1)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


def _set(doc: Any, path: tuple[Any, ...], value: Any, delete: bool) -> None:
    *parents, last = path
    for p in parents:
        doc = doc[p]
    if delete and isinstance(doc, dict):
        del doc[last]
    else:
        doc[last] = value


def _accounted(result: Result, policy: PolicySet) -> None:
    if result.dead_letter is not None:
        error = json.loads(dict(result.dead_letter.headers)["broker_error"])
        assert error["code"]
        assert all(p["field"] and p["reason"] for p in error["problems"])
        assert len(result.audit_records) == 1
        assert result.decisions == ()
    else:
        assert len(result.decisions) == len(policy.recipients)
        assert len(result.audit_records) == len(policy.recipients)


@settings(
    max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None
)
@given(raw=st.binary(max_size=300))
def test_arbitrary_bytes(ready: ReadyPipeline, policy: PolicySet, raw: bytes) -> None:
    """Not JSON, invalid UTF-8, anything: dead-lettered with a reason."""
    result = ready.process(raw, ready.headers({"notice_type": "risk", "notice_id": "x"}), SRC)
    assert result.dead_letter is not None
    _accounted(result, policy)


@settings(
    max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None
)
@given(
    data=st.data(),
    name=st.sampled_from(["recruited", "threat", "robbery"]),
    value=json_values,
    delete=st.booleans(),
)
def test_mutated_notices(
    ready: ReadyPipeline,
    policy: PolicySet,
    now: datetime,
    data: st.DataObject,
    name: str,
    value: Any,
    delete: bool,
) -> None:
    """A valid notice with one field replaced by a random value or removed."""
    doc = example(name, now)
    path = data.draw(st.sampled_from(_paths(doc)))
    _set(doc, path, value, delete)
    result = ready.process(doc, ready.headers(doc), SRC)
    _accounted(result, policy)


@settings(
    max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None
)
@given(kind=st.text(max_size=30), version=st.integers(min_value=0, max_value=99))
def test_unknown_types_and_versions(
    ready: ReadyPipeline, policy: PolicySet, now: datetime, kind: str, version: int
) -> None:
    """A ce_type the broker does not know is dead-lettered, never guessed at."""
    doc = example("threat", now)
    headers = [
        (k, f"no.oslo.broker.{kind}-notice.v{version}".encode() if k == "ce_type" else v)
        for k, v in ready.headers(doc)
    ]
    result = ready.process(doc, headers, SRC)
    if (kind, version) != ("risk", 1):
        assert result.dead_letter is not None
    _accounted(result, policy)
