"""What an input that is not decided becomes: a dead letter and its audit record.

A dead letter names the input (its position and the hash of its bytes) and what was wrong,
field by field, never a value. An input that arrived sealed to the broker and opened is kept
as a sealed copy under a data key of its own (retention purges it); any other input is referred
to, never copied. The audit record may use what can safely be salvaged from the opened input:
a well-formed notice id, and the child's keyed reference.
"""

from __future__ import annotations

import base64
import contextlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from broker.core import envelope, national_id
from broker.core.crypto import refs
from broker.core.errors import NoticeError
from broker.core.records import AuditEvent, AuditRecord, DeadLetter, Problem, SealedCopy


@dataclass(frozen=True)
class Salvaged:
    """What the audit record of an invalid input may say of the notice: nothing by default."""

    notice_id: str | None = None
    notice_type: str | None = None
    subject_ref: str | None = None

    @classmethod
    def of(cls, plain: bytes | None, headers: dict[str, bytes], subject_key: bytes) -> Salvaged:
        """From the opened input (None if it did not open) and its headers."""
        found = _probe(plain) if plain is not None else {}
        kind = envelope.notice_type_of(headers)
        nin = found.get("national_id")
        return cls(
            notice_id=found.get("notice_id"),
            notice_type=kind[0] if kind else None,
            subject_ref=refs.subject_ref(subject_key, nin) if nin else None,
        )


def records(
    value: bytes,
    source: str,
    error: NoticeError,
    *,
    now: datetime,
    policy_version: str,
    copy: SealedCopy | None,
    salvaged: Salvaged,
) -> tuple[DeadLetter, AuditRecord]:
    """The dead letter of the input ``value`` read at ``source``, and its audit record."""
    digest = refs.sha256_hex(value)
    record = AuditRecord(
        record_id=refs.stable_id("dead-letter", source, digest),
        event=AuditEvent.dead_letter,
        recorded_at=now,
        policy_version=policy_version,
        notice_id=salvaged.notice_id,
        notice_type=salvaged.notice_type,
        source=source,
        subject_ref=salvaged.subject_ref,
        reasons=[f"{error.code}: {p}" for p in error.problems],
        input_sha256=digest,
    )
    letter = DeadLetter(
        dead_letter_id=record.record_id,
        recorded_at=now,
        source=source,
        input_sha256=digest,
        input_bytes=len(value),
        code=error.code,
        problems=[Problem(field=p.field, reason=p.reason) for p in error.problems],
        sealed_copy=copy,
    )
    return letter, record


def headers(letter: DeadLetter) -> envelope.Headers:
    """The headers a dead letter carries besides its CloudEvent's: the error, and where the
    input was, for an operator's tools."""
    problems = [p.model_dump() for p in letter.problems]
    reason = json.dumps({"code": letter.code, "problems": problems})
    return (("broker_error", reason.encode()), ("broker_source", letter.source.encode()))


def copy_payload(headers: tuple[tuple[str, bytes | None], ...], value: bytes) -> bytes:
    """The input as it came, headers included, for a dead letter's sealed copy."""

    def b64(b: bytes | None) -> str | None:
        return None if b is None else base64.b64encode(b).decode("ascii")

    doc = {
        "headers": [
            [k.encode("utf-8", "surrogateescape").decode("utf-8", "replace"), b64(v)]
            for k, v in headers
        ],
        "value": b64(value),
    }
    return json.dumps(doc).encode()


def _probe(value: bytes) -> dict[str, str]:
    """What can safely be salvaged from an invalid input for the audit record: a well-formed
    notice id, and the national id only to compute its keyed reference."""
    out: dict[str, str] = {}
    try:
        data: Any = envelope.loads_strict(value.decode("utf-8"))
    except (NoticeError, UnicodeDecodeError):
        return out
    if not isinstance(data, dict):
        return out
    with contextlib.suppress(ValueError):
        out["notice_id"] = str(UUID(str(data.get("notice_id"))))
    child = data.get("child")
    if isinstance(child, dict) and isinstance(child.get("national_id"), str):
        with contextlib.suppress(ValueError):
            out["national_id"] = national_id.validate(child["national_id"])
    return out
