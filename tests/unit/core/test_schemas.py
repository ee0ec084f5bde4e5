"""schemas/ is generated from the models: a stale file fails this test."""

import json

import yaml

from broker.core.policy import PolicySet
from broker.core.schemas import render
from tests.conftest import ROOT


def test_schema_files_are_up_to_date(policy: PolicySet) -> None:
    """Every generated file is in schemas/ unchanged (else run: broker schemas export)."""
    files = render(policy)
    stale = [
        name
        for name, text in files.items()
        if not (ROOT / "schemas" / name).exists()
        or (ROOT / "schemas" / name).read_text(encoding="utf-8") != text
    ]
    assert stale == []


def test_one_schema_per_message_type_and_version(policy: PolicySet) -> None:
    """Notices, deliveries and audit records each have a versioned schema naming its event type."""
    files = render(policy)
    names = {n for n in files if n.endswith(".schema.json")}
    assert {
        "incident-notice.v1.schema.json",
        "risk-notice.v1.schema.json",
        "delivery.v1.schema.json",
        "audit-record.v1.schema.json",
    } <= names
    incident = json.loads(files["incident-notice.v1.schema.json"])
    assert incident["x-cloudevents-type"] == "no.oslo.broker.incident-notice.v1"
    assert "national_id" in json.dumps(incident)


def test_asyncapi_describes_every_recipient_topic(policy: PolicySet) -> None:
    """The AsyncAPI 3 document has a channel and a receive operation per recipient role, its
    address parameterised by the organisation that fills the role."""
    doc = yaml.safe_load(render(policy)["asyncapi.yaml"])
    assert doc["asyncapi"] == "3.0.0"
    addresses = {c["address"] for c in doc["channels"].values()}
    assert {f"{r.topic}.{{organisation}}" for r in policy.recipients.values()} <= addresses
    school = doc["channels"]["delivery-school"]
    assert set(school["parameters"]) == {"organisation"}
    assert "receive-school" in doc["operations"]
    assert {"notices", "audit", "notices.dead-letter"} <= addresses
    assert (
        doc["channels"]["audit"]["bindings"]["kafka"]["topicConfiguration"]["retention.ms"] == "-1"
    )
