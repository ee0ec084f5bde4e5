"""CloudEvents (Kafka binding, binary content mode) in and out, and notice validation.

Attributes travel as ``ce_*`` headers and the notice as JSON in the value. Decoding turns
every problem into a NoticeError naming the field and the reason, never the value.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from pydantic import BaseModel, ValidationError

from broker.errors import FieldProblem, NoticeError
from broker.models import CE_TYPE_PREFIX, NOTICE_MODELS, NOTICE_SENDERS, Notice, ce_type

MAX_VALUE_BYTES = 256 * 1024  # a notice is a few kB; anything far larger is a mistake or abuse
_FORMAT = JSONFormat()

Headers = tuple[tuple[str, bytes], ...]


def binary_headers(event_type: str, source: str, event_id: str, time: datetime,
                   dataschema: str | None = None) -> Headers:
    """CloudEvents 1.0 attributes as Kafka headers (binary content mode).

    Written out directly because the worker emits several events per notice and building a
    CloudEvent object for each costs more than the decision itself; tests/unit/test_envelope.py
    checks that these headers equal the cloudevents library's ``to_binary`` output.
    """
    stamp = time.isoformat()
    stamp = stamp[:-6] + "Z" if stamp.endswith("+00:00") else stamp
    headers = [("ce_type", event_type.encode()), ("ce_source", source.encode()),
               ("ce_id", event_id.encode()), ("ce_time", stamp.encode()),
               ("content-type", b"application/json")]
    if dataschema:
        headers.append(("ce_dataschema", dataschema.encode()))
    headers.append(("ce_specversion", b"1.0"))
    return tuple(headers)


def library_headers(event_type: str, source: str, event_id: str, time: datetime,
                    dataschema: str | None = None) -> Headers:
    """The same headers through the cloudevents library (the reference for the fast path)."""
    attributes: dict[str, Any] = {"type": event_type, "source": source, "id": event_id,
                                  "time": time, "datacontenttype": "application/json"}
    if dataschema:
        attributes["dataschema"] = dataschema
    message = ce_kafka.to_binary(CloudEvent(attributes=attributes, data=None), _FORMAT)
    return tuple(message.headers.items())


def encode(
    event_type: str,
    source: str,
    event_id: str,
    time: datetime,
    *,
    data: BaseModel,
    key: bytes | None,
    dataschema: str | None = None,
) -> tuple[bytes | None, bytes, Headers]:
    """(key, value, headers) of a CloudEvent in Kafka binary mode."""
    headers = binary_headers(event_type, source, event_id, time, dataschema)
    return key, data.model_dump_json(exclude_none=True).encode(), headers


def encode_notice(
    notice: Notice, key: bytes | None, time: datetime
) -> tuple[bytes | None, bytes, Headers]:
    t = ce_type(notice.notice_type, 1)
    return encode(
        t,
        f"/{NOTICE_SENDERS[notice.notice_type]}/{notice.issuer.unit_id}",
        str(notice.notice_id),
        time,
        data=notice,
        key=key,
        dataschema=f"schemas/{notice.notice_type}-notice.v1.schema.json",
    )


def header_map(headers: Iterable[tuple[str, bytes]] | None) -> dict[str, bytes]:
    return dict(headers or ())


def field_problems(exc: ValidationError, prefix: str = "") -> list[FieldProblem]:
    # e["msg"] never contains the input value; e["input"] (which does) is left out on purpose.
    return [
        FieldProblem(prefix + (".".join(str(p) for p in e["loc"]) or "(notice)"), e["msg"])
        for e in exc.errors(include_url=False, include_input=False)
    ]


def notice_type_of(headers: Mapping[str, bytes]) -> tuple[str, int] | None:
    raw = headers.get("ce_type", b"").decode("utf-8", "replace")
    if not raw.startswith(CE_TYPE_PREFIX) or ".v" not in raw:
        return None
    name, _, version = raw[len(CE_TYPE_PREFIX) :].rpartition(".v")
    if not name.endswith("-notice") or not version.isdigit():
        return None
    return name.removesuffix("-notice"), int(version)


# a notice issued further ahead than this is refused: clocks drift, but not by hours
MAX_CLOCK_SKEW = timedelta(minutes=5)


def decode_notice(headers: Mapping[str, bytes], value: bytes,
                  now: datetime | None = None) -> Notice:
    """Validate an input message as a notice, or raise NoticeError naming what is wrong."""
    if len(value) > MAX_VALUE_BYTES:
        raise NoticeError(
            "too-large", [FieldProblem("value", f"larger than {MAX_VALUE_BYTES} bytes")]
        )
    try:
        ce_kafka.from_binary(
            ce_kafka.KafkaMessage(headers=dict(headers), key=None, value=b""), _FORMAT
        )
    except Exception as exc:  # the library raises several types; all mean invalid
        raise NoticeError(
            "envelope-invalid", [FieldProblem("headers", f"not a CloudEvent: {str(exc)[:200]}")]
        ) from None
    kind = notice_type_of(headers)
    model = NOTICE_MODELS.get(kind) if kind else None
    if model is None:
        raise NoticeError(
            "unknown-type", [FieldProblem("ce_type", "unknown notice type or version")]
        )
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NoticeError(
            "not-utf8", [FieldProblem("value", f"invalid UTF-8 at byte {exc.start}")]
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NoticeError(
            "not-json",
            [FieldProblem("value", f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")],
        ) from None
    if not isinstance(data, dict):
        raise NoticeError("not-object", [FieldProblem("value", "must be a JSON object")])
    try:
        notice = model.model_validate(data)
    except ValidationError as exc:
        raise NoticeError("invalid-notice", field_problems(exc)) from None
    if headers.get("ce_id", b"").decode("utf-8", "replace") != str(notice.notice_id):
        raise NoticeError("id-mismatch", [FieldProblem("ce_id", "must equal notice_id")])
    if now is not None and notice.issued_at > now + MAX_CLOCK_SKEW:
        raise NoticeError("future-timestamp",
                          [FieldProblem("issued_at", f"more than {MAX_CLOCK_SKEW} in the future")])
    return notice
