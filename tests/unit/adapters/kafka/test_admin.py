"""ACLs are created and deleted many per request, each binding once, refusals named."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from broker.adapters.kafka import admin
from broker.core.deployment.acl import AclBinding, Operation, PatternType, ResourceType
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
