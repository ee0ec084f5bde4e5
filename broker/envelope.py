"""CloudEvents (Kafka binding, binary content mode) in and out, and notice validation.

Attributes travel as ``ce_*`` headers and the notice as JSON in the value. Decoding turns
every problem into a NoticeError naming the field and the reason, never the value.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from pydantic import BaseModel, ValidationError

from broker.errors import FieldProblem, NoticeError
from broker.models import CE_TYPE_PREFIX, NOTICE_MODELS, Notice, ce_type

MAX_VALUE_BYTES = 256 * 1024  # a notice is a few kB; anything far larger is a mistake or abuse
_FORMAT = JSONFormat()

Headers = tuple[tuple[str, bytes], ...]


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
    attributes: dict[str, Any] = {
        "type": event_type,
        "source": source,
        "id": event_id,
        "time": time,
        "datacontenttype": "application/json",
    }
    if dataschema:
        attributes["dataschema"] = dataschema
    event = CloudEvent(attributes=attributes, data=None)
    message = ce_kafka.to_binary(event, _FORMAT)
    headers = tuple((k, v) for k, v in message.headers.items())
    return key, data.model_dump_json(exclude_none=True).encode(), headers


def encode_notice(
    notice: Notice, key: bytes | None, time: datetime
) -> tuple[bytes | None, bytes, Headers]:
    t = ce_type(notice.notice_type, 1)
    return encode(
        t,
        f"/police/{notice.issuer.unit_id}",
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


def decode_notice(headers: Mapping[str, bytes], value: bytes) -> Notice:
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
    return notice
