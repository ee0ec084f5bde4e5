"""Generate schemas/: one JSON Schema per message type and version, and an AsyncAPI 3 document.

Generated from the models, never edited by hand; a test fails when the files are stale.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from pydantic import BaseModel

from broker.core.deployment.topics import TopicNames, TopicSpec, topic_specs
from broker.core.notices import NOTICE_MODELS, ce_type
from broker.core.pipeline import AUDIT_TYPE, DEAD_LETTER_TYPE, DELIVERY_TYPE
from broker.core.policy import PolicySet
from broker.core.records import AuditRecord, DeadLetter, Delivery

DRAFT = "https://json-schema.org/draft/2020-12/schema"


def _schema(model: type[BaseModel], name: str, event_type: str) -> dict[str, Any]:
    schema = model.model_json_schema(mode="validation")
    return {
        "$schema": DRAFT,
        "$id": f"schemas/{name}.schema.json",
        "x-cloudevents-type": event_type,
        **schema,
    }


def message_schemas() -> dict[str, dict[str, Any]]:
    """File stem -> JSON Schema, for every message type and version on our topics."""
    out = {
        f"{t}-notice.v{v}": _schema(m, f"{t}-notice.v{v}", ce_type(t, v))
        for (t, v), m in sorted(NOTICE_MODELS.items())
    }
    out["delivery.v1"] = _schema(Delivery, "delivery.v1", DELIVERY_TYPE)
    out["audit-record.v1"] = _schema(AuditRecord, "audit-record.v1", AUDIT_TYPE)
    out["dead-letter.v1"] = _schema(DeadLetter, "dead-letter.v1", DEAD_LETTER_TYPE)
    return out


def _headers(event_type: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": "CloudEvents 1.0 attributes, Kafka protocol binding, binary content mode",
        "required": ["ce_specversion", "ce_type", "ce_source", "ce_id", "ce_time"],
        "properties": {
            "ce_specversion": {"const": "1.0"},
            "ce_type": {"const": event_type},
            "ce_source": {"type": "string"},
            "ce_id": {"type": "string"},
            "ce_time": {"type": "string", "format": "date-time"},
            "content-type": {"const": "application/json"},
        },
    }


def _messages() -> dict[str, Any]:
    """components.messages: one per schema, with the CloudEvents headers of its type."""
    messages: dict[str, Any] = {}
    for stem, schema in message_schemas().items():
        key = stem.replace(".", "_")
        messages[key] = {
            "name": stem,
            "title": schema.get("title", stem),
            "contentType": "application/json",
            "headers": _headers(schema["x-cloudevents-type"]),
            "payload": {"$ref": f"./{stem}.schema.json"},
        }
    return messages


def _ref(message: str) -> dict[str, str]:
    return {"$ref": f"#/components/messages/{message}"}


def _channel(spec: TopicSpec, refs: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "address": spec.name,
        "description": spec.description,
        "messages": {r["$ref"].rsplit("/", 1)[-1]: r for r in refs},
        "bindings": {"kafka": {"partitions": spec.partitions, "topicConfiguration": spec.config}},
    }


def _channels_and_operations(
    policy: PolicySet, messages: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The shared topics and their operations, then one delivery channel per recipient role,
    its address parameterised by the organisation (directory.yaml) that fills the role."""
    names = TopicNames()
    per_role = {r.id: f"{r.topic}.{{organisation}}" for r in policy.recipients.values()}
    specs = {s.name: s for s in topic_specs(names, per_role)}
    notice_refs = [
        _ref(k) for k in messages if k.endswith(tuple(f"notice_v{v}" for _, v in NOTICE_MODELS))
    ]
    channels: dict[str, Any] = {
        "notices": _channel(specs[names.notices], notice_refs),
        "deadLetter": _channel(specs[names.dead_letter], [_ref("dead-letter_v1")]),
        "audit": _channel(specs[names.audit], [_ref("audit-record_v1")]),
    }
    operations: dict[str, Any] = {
        "publishNotice": {
            "action": "send",
            "channel": {"$ref": "#/channels/notices"},
            "summary": "Police systems publish incident and risk notices.",
        },
        "readAudit": {
            "action": "receive",
            "channel": {"$ref": "#/channels/audit"},
            "summary": "Auditors read one audit record per decision or dead letter.",
        },
    }
    for r in sorted(policy.recipients.values(), key=lambda r: r.id):
        cid = f"delivery-{r.id}"
        channels[cid] = _channel(specs[names.delivery(per_role[r.id])], [_ref("delivery_v1")])
        channels[cid]["parameters"] = {
            "organisation": {"description": f"the id, in directory.yaml, of the {r.id} receiving"}
        }
        operations[f"receive-{r.id}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{cid}"},
            "summary": f"{r.name.en}: each organisation receives its own redacted copies.",
        }
    return channels, operations


def asyncapi(policy: PolicySet) -> dict[str, Any]:
    messages = _messages()
    channels, operations = _channels_and_operations(policy, messages)
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Oslo inter-agency information-sharing broker",
            "version": "1.0.0",
            "description": "Police notices about children, decided per recipient under a legal "
            "basis, redacted field by field, delivered and audited.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": "127.0.0.1:9092",
                "protocol": "kafka",
                "description": "single-node Apache Kafka (deploy/kafka.sh)",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def render(policy: PolicySet) -> dict[str, str]:
    """File name -> exact content of every file in schemas/."""
    files = {
        f"{stem}.schema.json": json.dumps(s, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        for stem, s in message_schemas().items()
    }
    files["asyncapi.yaml"] = yaml.safe_dump(
        asyncapi(policy), sort_keys=False, allow_unicode=True, width=100
    )
    return files
