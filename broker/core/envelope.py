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

from broker.core.errors import FieldProblem, NoticeError
from broker.core.notices import CE_TYPE_PREFIX, NOTICE_MODELS, NOTICE_SENDERS, Notice, ce_type
from broker.core.times import CLOCK_SKEW, utc_z

# One limit for a notice, enforced by `broker publish` and by the worker. Every other size
# follows from it, so that every message the worker writes fits in a Kafka record.
MAX_NOTICE_BYTES = 256 * 1024  # a notice is a few kB; anything far larger is a mistake or abuse
# The input as it arrives (sealed: base64 of the notice plus a small envelope, about 4/3).
MAX_INPUT_BYTES = 2 * MAX_NOTICE_BYTES
MAX_HEADERS = 64  # a notice carries nine; thousands are abuse
MAX_HEADER_BYTES = 16 * 1024
# What the worker may write in one record: under Kafka's default max.message.bytes (1,048,588)
# and aiokafka's max_request_size (1,048,576), with room for the record batch overhead.
MAX_RECORD_BYTES = 1_000_000
MAX_JSON_DEPTH = 32  # the deepest notice is five levels; JSON nesting beyond this is refused
# A header key no Kafka record can carry (a lone surrogate is never the result of decoding
# UTF-8): the shell marks a record the Kafka client could not parse with it.
UNREADABLE_HEADER = "\udcffbroker-unreadable"
KNOWN_HEADERS = frozenset(
    {
        "ce_specversion",
        "ce_type",
        "ce_source",
        "ce_id",
        "ce_time",
        "ce_dataschema",
        "ce_signature",
        "ce_keyid",
        "ce_sealed",
        "content-type",
    }
)
_FORMAT = JSONFormat()

Headers = tuple[tuple[str, bytes], ...]
RawHeaders = Iterable[tuple[str, bytes | None]]


def binary_headers(
    event_type: str, source: str, event_id: str, time: datetime, dataschema: str | None = None
) -> Headers:
    """CloudEvents 1.0 attributes as Kafka headers (binary content mode).

    Written out directly because the worker emits several events per notice and building a
    CloudEvent object for each costs more than the decision itself; tests/unit/test_envelope.py
    checks that these headers equal the cloudevents library's ``to_binary`` output.
    """
    # UTC as Z; another offset is kept as given, as the cloudevents library writes it
    stamp = utc_z(time, "auto") if time.utcoffset() == timedelta(0) else time.isoformat()
    headers = [
        ("ce_type", event_type.encode()),
        ("ce_source", source.encode()),
        ("ce_id", event_id.encode()),
        ("ce_time", stamp.encode()),
        ("content-type", b"application/json"),
    ]
    if dataschema:
        headers.append(("ce_dataschema", dataschema.encode()))
    headers.append(("ce_specversion", b"1.0"))
    return tuple(headers)


def library_headers(
    event_type: str, source: str, event_id: str, time: datetime, dataschema: str | None = None
) -> Headers:
    """The same headers through the cloudevents library (the reference for the fast path)."""
    attributes: dict[str, Any] = {
        "type": event_type,
        "source": source,
        "id": event_id,
        "time": time,
        "datacontenttype": "application/json",
    }
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


def header_size(headers: RawHeaders) -> int:
    return sum(len(k.encode("utf-8", "surrogateescape")) + len(v or b"") for k, v in headers)


def parse_headers(headers: RawHeaders | None) -> dict[str, bytes]:
    """An input's headers as a map, or NoticeError: every header once, none null, few and
    small. A duplicated header would let the signed bytes and the read value differ."""
    items = list(headers or ())
    if any(k == UNREADABLE_HEADER for k, _ in items):
        why = next((v for k, v in items if k == UNREADABLE_HEADER), None) or b"unreadable"
        reason = "the Kafka client could not parse it: " + why.decode("ascii", "replace")
        raise NoticeError("record-unreadable", [FieldProblem("(record)", reason)])
    problems: list[FieldProblem] = []
    if len(items) > MAX_HEADERS:
        problems.append(FieldProblem("headers", f"more than {MAX_HEADERS} headers"))
    elif header_size(items) > MAX_HEADER_BYTES:
        problems.append(FieldProblem("headers", f"larger than {MAX_HEADER_BYTES} bytes"))
    else:
        seen: dict[str, bytes] = {}
        for key, value in items:
            # a header's name is attacker-chosen text: name only the headers we define
            name = key if key in KNOWN_HEADERS else "(another header)"
            if value is None:
                problems.append(FieldProblem(name, "is null"))
            elif key in seen:
                problems.append(FieldProblem(name, "appears more than once"))
            else:
                seen[key] = value
        if not problems:
            return seen
    raise NoticeError("headers-invalid", problems[:10])


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        # the signed bytes would mean two things: the first value to one reader, the last to
        # another
        raise _DuplicateKey
    return out


class _DuplicateKey(ValueError):
    pass


def _depth(data: Any) -> int:
    """Nesting depth of parsed JSON, without recursion."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def loads_strict(text: str) -> Any:
    """JSON with one meaning: no duplicate keys, no deep nesting; NoticeError otherwise."""
    try:
        data = json.loads(text, object_pairs_hook=_pairs)
    except _DuplicateKey:
        raise NoticeError(
            "json-duplicate-key", [FieldProblem("value", "an object has the same key twice")]
        ) from None
    except RecursionError:
        raise NoticeError(
            "json-too-deep", [FieldProblem("value", f"nested deeper than {MAX_JSON_DEPTH}")]
        ) from None
    except json.JSONDecodeError as exc:
        raise NoticeError(
            "not-json",
            [FieldProblem("value", f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")],
        ) from None
    if _depth(data) > MAX_JSON_DEPTH:
        raise NoticeError(
            "json-too-deep", [FieldProblem("value", f"nested deeper than {MAX_JSON_DEPTH}")]
        )
    return data


def field_problems(exc: ValidationError, prefix: str = "") -> list[FieldProblem]:
    # e["msg"] never contains the input value; e["input"] (which does) is left out on purpose.
    return [
        FieldProblem(prefix + (".".join(str(p) for p in e["loc"]) or "(notice)"), e["msg"])
        for e in exc.errors(include_url=False, include_input=False)
    ]


def notice_type_of(headers: Mapping[str, bytes | None]) -> tuple[str, int] | None:
    raw = (headers.get("ce_type") or b"").decode("utf-8", "replace")
    if not raw.startswith(CE_TYPE_PREFIX) or ".v" not in raw:
        return None
    name, _, version = raw[len(CE_TYPE_PREFIX) :].rpartition(".v")
    if not name.endswith("-notice") or not version.isdigit():
        return None
    return name.removesuffix("-notice"), int(version)


def decode_notice(
    headers: Mapping[str, bytes], value: bytes, now: datetime | None = None
) -> Notice:
    """Validate an input message as a notice, or raise NoticeError naming what is wrong."""
    if len(value) > MAX_NOTICE_BYTES:
        raise NoticeError(
            "too-large", [FieldProblem("value", f"larger than {MAX_NOTICE_BYTES} bytes")]
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
    data = loads_strict(text)
    if not isinstance(data, dict):
        raise NoticeError("not-object", [FieldProblem("value", "must be a JSON object")])
    try:
        notice = model.model_validate(data)
    except ValidationError as exc:
        raise NoticeError("invalid-notice", field_problems(exc)) from None
    if headers.get("ce_id", b"").decode("utf-8", "replace") != str(notice.notice_id):
        raise NoticeError("id-mismatch", [FieldProblem("ce_id", "must equal notice_id")])
    if now is not None and notice.issued_at > now + CLOCK_SKEW:
        raise NoticeError(
            "future-timestamp",
            [FieldProblem("issued_at", f"more than {CLOCK_SKEW} in the future")],
        )
    return notice
