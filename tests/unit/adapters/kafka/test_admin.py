"""ACLs are created and deleted many per request, each binding once, refusals named."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from broker.adapters.kafka import admin
from broker.core.deployment.acl import (
    WIRE_OPERATION,
    WIRE_PATTERN,
    WIRE_PERMISSION,
    WIRE_RESOURCE,
    AclBinding,
    Operation,
    PatternType,
    ResourceType,
)
from broker.core.deployment.topics import TopicSpec
from broker.core.errors import ConfigError

CREATE_ACLS, DELETE_ACLS = 30, 31


def _bindings(n: int) -> list[AclBinding]:
    read, topic, literal = Operation.READ, ResourceType.TOPIC, PatternType.LITERAL
    return [AclBinding(f"User:recipient.s{i}", topic, f"t{i}", literal, read) for i in range(n)]


class FakeAdmin:
    """Records each request as the broker would receive it (negotiated at version 1)."""

    def __init__(self, error: int = 0) -> None:
        self.sent: list[Any] = []
        self.error = error

    async def _send_request(self, request: Any) -> SimpleNamespace:
        struct = request.prepare({CREATE_ACLS: (1, 1), DELETE_ACLS: (1, 1)})
        struct.encode()  # every binding fits the request's wire schema
        self.sent.append(struct)
        items = getattr(struct, "creations", None) or struct.filters
        codes = [(self.error, "refused" if self.error else None)] * len(items)
        return SimpleNamespace(creation_responses=codes, filter_responses=codes)


def test_bindings_go_many_to_a_request_each_once() -> None:
    """1,200 bindings are three CreateAcls requests (500, 500, 200) with every binding once."""
    fake = FakeAdmin()
    acls = _bindings(1200)
    asyncio.run(admin.create_acls(fake, acls))
    assert [len(s.creations) for s in fake.sent] == [500, 500, 200]
    sent = [c[1] for s in fake.sent for c in s.creations]  # resource names
    assert sent == [b.resource_name for b in acls]


def test_deletes_go_many_to_a_request() -> None:
    """Deleting 501 bindings is two DeleteAcls requests."""
    fake = FakeAdmin()
    asyncio.run(admin.delete_acls(fake, _bindings(501)))
    assert [len(s.filters) for s in fake.sent] == [500, 1]


def test_no_bindings_send_no_request() -> None:
    fake = FakeAdmin()
    asyncio.run(admin.create_acls(fake, []))
    assert fake.sent == []


def test_a_refused_binding_is_a_config_error() -> None:
    """A refusal in the response names the Kafka error, not a traceback from the client."""
    with pytest.raises(ConfigError, match=r"create ACL: .*refused"):
        asyncio.run(admin.create_acls(FakeAdmin(error=31), _bindings(3)))


class LaggingAdmin:
    """A broker that shows a change only after ``lag`` looks: until then DescribeAcls answers
    with the ACLs as they were (``before``), afterwards as they are (``after``)."""

    def __init__(self, before: list[AclBinding], after: list[AclBinding], lag: int) -> None:
        self.before, self.after, self.lag, self.looks = before, after, lag, 0

    async def _send_request(self, request: Any) -> SimpleNamespace:
        self.looks += 1
        shown = self.before if self.looks <= self.lag else self.after
        resources = [
            (
                WIRE_RESOURCE[b.resource_type],
                b.resource_name,
                WIRE_PATTERN[b.pattern_type],
                [(b.principal, b.host, WIRE_OPERATION[b.operation], WIRE_PERMISSION[b.permission])],
            )
            for b in shown
        ]
        return SimpleNamespace(error_code=0, error_message=None, resources=resources)

    async def list_topics(self) -> list[str]:
        return ["t0"]


def test_apply_waits_until_the_broker_shows_created_and_not_deleted_acls() -> None:
    """Until the broker shows the new binding and no longer shows the deleted one, a client
    started at once would be refused, or still allowed: in_effect looks until both hold."""
    kept, deleted = _bindings(2)
    lagging = LaggingAdmin(before=[kept, deleted], after=[kept], lag=2)
    spec = TopicSpec("t0", 1)
    assert asyncio.run(admin.in_effect(lagging, [kept], [spec], gone=[deleted])) == 3


def test_a_change_never_shown_is_a_config_error() -> None:
    kept, deleted = _bindings(2)
    stuck = LaggingAdmin(before=[kept, deleted], after=[kept, deleted], lag=0)
    with pytest.raises(ConfigError, match="not all in effect"):
        asyncio.run(admin.in_effect(stuck, [kept], [], timeout=0, gone=[deleted]))
