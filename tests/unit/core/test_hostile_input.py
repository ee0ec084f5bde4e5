"""Hostile input through the whole pipeline (signature, sealing, data keys): every input is
accounted for by exactly one outcome, nothing raises, and no dead letter holds personal data in
clear."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.core import envelope
from broker.core.crypto import sealing, signing
from broker.core.crypto.registry import KeyKind, Registry, SigningKey
from broker.core.pipeline import Pipeline, Result, Source
from broker.core.policy import PolicySet
from broker.core.records import DeadLetter, ReplayClaim
from broker.testing.fakes import MemoryDataKeyStore, ready_pipeline
from tests.conftest import SUBJECT_KEY, example

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
UNIT = "oslo-pd-ost"
SRC = Source("t.notices", 2, 41)
Raw = list[tuple[str, bytes | None]]


@dataclass
class Secure:
    pipeline: Pipeline
    registry: Registry
    signer: SigningKey
    store: MemoryDataKeyStore

    def headers(self, doc: dict[str, Any], notice_type: str | None = None) -> Raw:
        kind = notice_type or f"{doc.get('notice_type')}-notice"
        return list(
            envelope.binary_headers(
                f"no.oslo.broker.{kind}.v1", f"/police/{UNIT}", str(doc.get("notice_id")), NOW
            )
        )

    def signed(self, value: bytes, headers: Raw) -> Raw:
        clean = [(k, v) for k, v in headers if v is not None]
        return list(signing.sign(clean, value, self.signer))

    def sealed(self, value: bytes, headers: Raw) -> tuple[Raw, bytes]:
        h, v = sealing.seal_notice(
            tuple((k, v) for k, v in headers if v is not None), value, self.registry
        )
        return list(h), v

    def message(
        self,
        doc: dict[str, Any] | bytes,
        headers: Raw | None = None,
    ) -> tuple[Raw, bytes]:
        """Signed by a registered police unit and sealed to the broker, like a real notice."""
        value = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        base = (
            headers
            if headers is not None
            else self.headers(
                doc if isinstance(doc, dict) else {"notice_type": "risk", "notice_id": uuid.uuid4()}
            )
        )
        return self.sealed(value, self.signed(value, base))


@pytest.fixture
def secure(policy: PolicySet) -> Secure:
    ready = ready_pipeline(policy, now=NOW, subject_key=SUBJECT_KEY, units={UNIT: "police"})
    signer = ready.keys.signing_key(KeyKind.publisher, UNIT)
    return Secure(ready.pipeline, ready.keys.registry, signer, ready.data_keys)


def _doc(name: str = "threat") -> dict[str, Any]:
    doc = example(name)
    doc["notice_id"] = str(uuid.uuid4())
    doc["issued_at"] = NOW.isoformat()
    doc["issuer"]["unit_id"] = UNIT  # the one unit with a key here
    return doc


def _letter(result: Result) -> DeadLetter:
    assert result.dead_letter is not None
    assert result.decisions == ()
    assert len(result.audit_records) == 1
    return DeadLetter.model_validate_json(result.dead_letter.value)


def _personal(doc: dict[str, Any]) -> list[bytes]:
    child = doc["child"]
    return [child["national_id"].encode(), child["name"].encode()]


def _everything(result: Result) -> bytes:
    return b"\n".join(
        m.value + repr(m.headers).encode() + (m.key or b"") for m in result.messages()
    )


def test_a_sealed_notice_is_decided_and_its_claim_goes_to_its_own_progress_partition(
    secure: Secure, policy: PolicySet
) -> None:
    """A valid notice: one decision per recipient, and its replay claim for the worker's
    progress topic, on the progress partition of the input's partition."""
    doc = _doc()
    headers, value = secure.message(doc)
    result = secure.pipeline.process(value, headers, SRC)
    assert result.dead_letter is None
    assert len(result.decisions) == len(policy.recipients)
    (claim,) = result.progress
    assert (claim.topic, claim.partition, claim.key) == (
        "t.worker.progress",
        2,
        f"claim:{doc['notice_id']}".encode(),
    )
    parsed = ReplayClaim.model_validate_json(claim.value)
    assert parsed.position == str(SRC)
    assert parsed.forget_after > NOW


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda h: [(k, None if k == "ce_type" else v) for k, v in h], "ce_type"),
        (lambda h: [(k, None if k == "ce_id" else v) for k, v in h], "ce_id"),
        (lambda h: [*h, ("ce_type", b"no.oslo.broker.incident-notice.v1")], "ce_type"),
        (lambda h: h + [(f"x-{i}", b"1") for i in range(3000)], "headers"),
        (lambda h: [*h, ("x-big", b"x" * 20_000)], "headers"),
    ],
    ids=["null-ce_type", "null-ce_id", "duplicate-ce_type", "thousands", "oversized"],
)
def test_bad_headers_are_refused_by_reference(
    secure: Secure, mutate: Callable[[Raw], Raw], field: str
) -> None:
    """Null, duplicate, too many or too large headers: headers-invalid, naming the header;
    the dead letter copies nothing (the input was never opened)."""
    doc = _doc()
    headers, value = secure.message(doc)
    result = secure.pipeline.process(value, mutate(headers), SRC)
    letter = _letter(result)
    assert letter.code == "headers-invalid"
    assert letter.problems[0].field == field
    assert letter.sealed_copy is None
    assert result.progress == ()


def test_deep_nesting_is_refused_and_kept_as_a_sealed_copy_until_retention_ends(
    secure: Secure,
) -> None:
    """JSON nested 100,000 levels (signed, sealed) is json-too-deep; the dead letter's sealed
    copy opens with its own data key, and not once the key is destroyed."""
    value = b"[" * 100_000 + b"]" * 100_000
    headers, sealed = secure.message(value)
    result = secure.pipeline.process(sealed, headers, SRC)
    letter = _letter(result)
    assert letter.code == "json-too-deep"
    assert letter.sealed_copy is not None
    key = secure.store.lookup(letter.sealed_copy.data_key_id)
    copy = json.loads(sealing.open_copy(letter.sealed_copy, key))
    assert base64.b64decode(copy["value"]) == sealed  # the input as it came
    assert len(copy["headers"]) == len(headers)
    secure.store.destroy([letter.sealed_copy.data_key_id], NOW)
    with pytest.raises(sealing.DecryptionError, match="data-key-destroyed"):
        sealing.open_copy(letter.sealed_copy, secure.store.lookup(letter.sealed_copy.data_key_id))


def test_duplicate_json_keys_are_refused(secure: Secure) -> None:
    """The signed bytes must mean one thing: a key twice in an object is json-duplicate-key."""
    doc = _doc()
    text = json.dumps(doc)
    value = text.replace('"notice_id":', f'"notice_id": "{uuid.uuid4()}", "notice_id":', 1)
    headers, sealed = secure.message(value.encode(), secure.headers(doc))
    assert _letter(secure.pipeline.process(sealed, headers, SRC)).code == "json-duplicate-key"


def test_an_unsealed_notice_is_referred_to_never_copied(secure: Secure) -> None:
    """A notice in clear is notice-not-sealed; nothing of it, headers included, is copied."""
    doc = _doc()
    value = json.dumps(doc).encode()
    headers = secure.signed(value, secure.headers(doc))
    result = secure.pipeline.process(value, headers, SRC)
    letter = _letter(result)
    assert letter.code == "notice-not-sealed"
    assert letter.sealed_copy is None
    text = _everything(result)
    assert all(p not in text for p in _personal(doc))
    assert doc["notice_id"].encode() not in result.dead_letter.value  # type: ignore[union-attr]


def test_a_null_value_is_value_missing(secure: Secure) -> None:
    """A tombstone (null value) on the notices topic is dead-lettered, not a crash."""
    headers, _ = secure.message(_doc())
    assert _letter(secure.pipeline.process(None, headers, SRC)).code == "value-missing"


def test_a_bug_costs_one_input_and_names_only_the_exception_class(
    secure: Secure, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception inside the pipeline becomes internal-error for that input, with the
    exception's class and never its message (which could hold a value)."""
    doc = _doc()
    headers, value = secure.message(doc)

    def boom(*_: Any, **__: Any) -> None:
        raise RuntimeError(doc["child"]["national_id"])

    monkeypatch.setattr(secure.pipeline, "_decide", boom)
    result = secure.pipeline.process(value, headers, SRC)
    letter = _letter(result)
    assert letter.code == "internal-error"
    assert letter.problems[0].reason == "RuntimeError"
    assert all(p not in _everything(result) for p in _personal(doc))


def test_an_output_too_large_for_kafka_becomes_a_reference(
    secure: Secure, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If any output would not fit in a Kafka record, the input is dead-lettered by reference
    instead, so the batch can still commit."""
    monkeypatch.setattr(envelope, "MAX_RECORD_BYTES", 2_000)
    headers, value = secure.message(_doc())
    result = secure.pipeline.process(value, headers, SRC)
    assert _letter(result).code == "output-too-large"
    assert all(m.size() <= 2_000 for m in result.messages())


def test_a_record_the_client_could_not_parse_is_a_reference(secure: Secure) -> None:
    """The shell's placeholder for an unparseable record: record-unreadable, by position."""
    result = secure.pipeline.process(
        None, [(envelope.UNREADABLE_HEADER, b"UnicodeDecodeError")], SRC
    )
    letter = _letter(result)
    assert (letter.code, letter.source, letter.sealed_copy) == (
        "record-unreadable",
        "t.notices/2/41",
        None,
    )


HOSTILE = [
    "valid",
    "null-header",
    "duplicate-header",
    "many-headers",
    "deep",
    "duplicate-key",
    "unsealed",
    "null-value",
    "junk",
    "lying-type",
]


def _hostile(secure: Secure, kind: str) -> tuple[Raw, bytes | None, dict[str, Any]]:
    doc = _doc(["threat", "recruited", "robbery"][len(kind) % 3])
    headers, value = secure.message(doc)
    if kind == "null-header":
        headers = [(k, None if k == "ce_id" else v) for k, v in headers]
    elif kind == "duplicate-header":
        headers = [*headers, headers[0]]
    elif kind == "many-headers":
        headers = headers + [(f"h{i}", b"") for i in range(2000)]
    elif kind == "deep":
        headers, value = secure.message(b'{"a":' * 50_000 + b"1" + b"}" * 50_000)
    elif kind == "duplicate-key":
        raw = json.dumps(doc).replace('"issued_at":', '"issued_at": "x", "issued_at":', 1)
        headers, value = secure.message(raw.encode(), secure.headers(doc))
    elif kind == "unsealed":
        value = json.dumps(doc).encode()
        headers = secure.signed(value, secure.headers(doc))
    elif kind == "null-value":
        return headers, None, doc
    elif kind == "junk":
        value = bytes(range(256)) * 10
    elif kind == "lying-type":
        other = "incident-notice" if doc["notice_type"] == "risk" else "risk-notice"
        headers, value = secure.message(json.dumps(doc).encode(), secure.headers(doc, other))
    return headers, value, doc


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(kinds=st.lists(st.sampled_from(HOSTILE), min_size=1, max_size=12))
def test_a_burst_of_hostile_input_is_accounted_for_input_by_input(
    secure: Secure, policy: PolicySet, kinds: list[str]
) -> None:
    """Each input of a burst gets exactly one outcome (one decision per recipient, or one
    dead letter), valid notices are all decided, and no personal data is in clear anywhere
    but where a valid notice's own decisions put it (deliveries are sealed)."""
    for i, kind in enumerate(kinds):
        headers, value, doc = _hostile(secure, kind)
        result = secure.pipeline.process(value, headers, Source("t.notices", 0, i))
        if kind == "valid":
            assert result.dead_letter is None
            assert len(result.decisions) == len(policy.recipients)
        else:
            assert result.dead_letter is not None, kind
            assert len(result.audit_records) == 1
        assert all(p not in _everything(result) for p in _personal(doc)), kind


def test_an_unknown_header_name_is_never_echoed(secure: Secure) -> None:
    """A header's name is attacker-chosen text (it could be a name): an error names only the
    headers the broker defines."""
    headers, value = secure.message(_doc())
    result = secure.pipeline.process(value, [*headers, ("Kari Nordmann", None)], SRC)
    letter = _letter(result)
    assert letter.code == "headers-invalid"
    assert letter.problems[0].field == "(another header)"
    assert b"Kari" not in _everything(result)
