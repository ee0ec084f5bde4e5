"""A retired organisation in the plans: no ACLs, no topics; `--prune` deletes the ACLs it had.
And the directory's administrator, who records retirements, writes only the audit log."""

from __future__ import annotations

from datetime import date

import pytest

from broker.adapters.kafka.admin import _prunable
from broker.adapters.policy_files import load_directory
from broker.core.deployment.acl import (
    Operation,
    Principals,
    ResourceType,
    allows,
    bindings,
    retired_principals,
)
from broker.core.deployment.topics import TopicNames, topic_plan
from broker.core.directory import DIRECTORY_FILE, Directory
from broker.core.directory_edit import retired
from broker.core.policy import PolicySet
from tests.conftest import POLICIES

P = Principals()
NAMES = TopicNames("t.")
APP = "t.broker"
GONE = "skole-9002"


@pytest.fixture(scope="module")
def after(policy: PolicySet) -> Directory:
    data = (POLICIES / DIRECTORY_FILE).read_bytes()
    on = date(2026, 6, 30)
    return retired(data, DIRECTORY_FILE, policy.recipients, GONE, on=on, reason="x")[1]


def test_a_retired_organisation_gets_no_acls_and_no_topics(after: Directory) -> None:
    acls = bindings(after.topics, NAMES, APP)
    who = P.recipient(GONE)
    assert not [b for b in acls if b.principal == f"User:{who}"]
    gone_topics = {f"t.deliveries.school.{GONE}", f"t.receipts.{GONE}"}
    assert not gone_topics & {s.name for s in topic_plan(NAMES, after)}
    # nor does the worker write, or the relay read, the topics it had
    topic, delivery = ResourceType.TOPIC, f"t.deliveries.school.{GONE}"
    assert not allows(acls, P.worker, topic, delivery, Operation.WRITE)
    assert not allows(acls, P.relay, topic, f"t.receipts.{GONE}", Operation.READ)
    assert allows(acls, P.relay, topic, "t.receipts.skole-9001", Operation.READ)


def test_prune_deletes_a_retired_organisations_acls(policy: PolicySet, after: Directory) -> None:
    """The ACLs the organisation had before: managed (so `--prune` deletes them) only because
    the directory lists it as retired; the plan no longer has them."""
    before = bindings(load_directory(policy).topics, NAMES, APP)
    now = bindings(after.topics, NAMES, APP)
    had = [b for b in before if b.principal == f"User:{P.recipient(GONE)}"]
    assert {b.resource_type for b in had} == {ResourceType.TOPIC, ResourceType.GROUP}
    planned = {b.principal for b in now}
    managed = planned | {f"User:{p}" for p in retired_principals(after.retired)}
    assert all(not _prunable(b, planned, "t.") for b in had)
    assert all(_prunable(b, managed, "t.") for b in had)
    assert "police" in retired_principals(after.retired)  # earlier versions' still pruned
    # what the worker and the relay had on its topics goes too
    stale = set(before) - set(now)
    assert {b.principal for b in stale} == {
        f"User:{P.recipient(GONE)}",
        f"User:{P.worker}",
        f"User:{P.relay}",
    }
    assert all(_prunable(b, managed, "t.") for b in stale)
    assert all(GONE in b.resource_name for b in stale)


def test_the_directory_admin_writes_the_audit_log_and_nothing_else(after: Directory) -> None:
    acls = bindings(after.topics, NAMES, APP)
    mine = {
        (b.resource_type, b.resource_name, b.operation)
        for b in acls
        if b.principal == f"User:{P.directory_admin}"
    }
    topic = ResourceType.TOPIC
    assert mine == {(topic, "t.audit", Operation.WRITE), (topic, "t.audit", Operation.DESCRIBE)}
    assert P.directory_admin in P.clients(after.organisations)
