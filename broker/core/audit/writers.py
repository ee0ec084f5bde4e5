"""Who may write what on the audit topic: every message is attributable to an entitled writer.

Kafka's ACLs let several principals write the audit topic (the worker, the sealer, the reviewer,
the receipts relay, the directory's administrator), and an ACL says nothing about *what* a
principal writes: the reviewer could write a "deliver" decision, and the sealer would seal it
like any other record. So each writer signs every message it writes with its own
``audit-writer`` key from the registry (owner: its role,
``broker.core.crypto.registry.AUDIT_WRITERS``), under a domain label of its own
(``AUDIT_RECORD``: a signature on a notice or a delivery never passes for one on an audit
record). The signature covers the value bytes, the ``ce_id``, ``ce_type``, ``ce_source`` and
``ce_time`` headers and the key id (broker.core.crypto.signing); it travels in ``ce_keyid`` and
``ce_signature``.

``ENTITLED`` is the one table of who writes what, keyed by the record's kind as it appears in
the record: the ``event`` field of its JSON value (``AuditRecord.event``, review and receipt
events, retirements from the directory), or ``checkpoint`` for a checkpoint (its CloudEvents
type). Each kind also has the one CloudEvents type it travels under, so a record cannot pose as
another kind.

Checkpoints carry both signatures: the checkpoint's own (over the tree head, which witnesses and
offline proofs check with the sealer's checkpoint key) and the sealer's writer signature over
the message, so that every message on the topic is attributed the same way.

Pure: ``check`` answers from the entry and the registry. The sealer does not check: it seals
what the topic holds in its order (refusing would let any writer stop the sealing); ``broker
audit verify`` reports every message that fails as ``unattributed``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from broker.core.audit.access import AUDIT_RECEIPT_TYPE
from broker.core.audit.events import (
    CHECKPOINT_TYPE,
    DIRECTORY_TYPE,
    OBLIGATION_TYPE,
    RECORD_TYPE,
    REVIEW_TYPE,
    Entry,
)
from broker.core.crypto import signing
from broker.core.crypto.registry import AUDIT_WRITERS, KeyKind, Registry, SigningKey
from broker.core.errors import NoticeError

AUDIT_RECORD: Final = signing.AUDIT_RECORD
CHECKPOINT: Final = "checkpoint"  # the kind of a checkpoint (its value has no "event")

WORKER, SEALER, REVIEWER, RELAY, DIRECTORY_ADMIN = AUDIT_WRITERS


@dataclass(frozen=True)
class Entitlement:
    """The one writer (role) that may write a kind of record, and the type it travels under."""

    writer: str
    ce_type: str


ENTITLED: Final[dict[str, Entitlement]] = {
    "decision": Entitlement(WORKER, RECORD_TYPE),
    "dead-letter": Entitlement(WORKER, RECORD_TYPE),
    "worker-state": Entitlement(WORKER, RECORD_TYPE),
    CHECKPOINT: Entitlement(SEALER, CHECKPOINT_TYPE),
    "review": Entitlement(REVIEWER, REVIEW_TYPE),
    # the controller's office closes duties to inform (broker.core.audit.inform says why)
    "informed": Entitlement(REVIEWER, OBLIGATION_TYPE),
    "inform-exception": Entitlement(REVIEWER, OBLIGATION_TYPE),
    "received": Entitlement(RELAY, AUDIT_RECEIPT_TYPE),
    "opened": Entitlement(RELAY, AUDIT_RECEIPT_TYPE),
    "receipt-rejected": Entitlement(RELAY, AUDIT_RECEIPT_TYPE),
    "organisation-retired": Entitlement(DIRECTORY_ADMIN, DIRECTORY_TYPE),
}


def kinds_of(writer: str) -> list[str]:
    """The kinds of record ``writer`` may write."""
    return [kind for kind, e in ENTITLED.items() if e.writer == writer]


def kind_of(entry: Entry) -> str | None:
    """The record's kind: ``checkpoint``, or the ``event`` of its JSON value (None: neither)."""
    if entry.is_checkpoint:
        return CHECKPOINT
    try:
        data = json.loads(entry.value)
    except (ValueError, UnicodeDecodeError):
        return None
    event = data.get("event") if isinstance(data, dict) else None
    return event if isinstance(event, str) else None


def sign(headers: Iterable[tuple[str, bytes]], value: bytes, key: SigningKey) -> signing.Headers:
    """The headers of an audit-topic message with its writer's ``ce_keyid``/``ce_signature``."""
    return signing.sign(headers, value, key, AUDIT_RECORD)


def check(entry: Entry, registry: Registry) -> str | None:
    """Why this message is not attributable to a writer entitled to its kind, or None if it is:
    signed, under ``AUDIT_RECORD``, by a registered, unretired audit-writer key whose owner
    ``ENTITLED`` names for the record's kind, with the type that kind travels under. The
    problem names no text from the message beyond a well-formed key id."""
    kind = kind_of(entry)
    entitled = ENTITLED.get(kind) if kind is not None else None
    if kind is None or entitled is None:
        return "not a kind of audit record any writer is entitled to write"
    if entry.ce_type != entitled.ce_type:
        return f"a {kind} record travels as {entitled.ce_type}, not as another type"
    if entry.headers is None:
        return "the source kept no headers: the writer's signature cannot be checked"
    try:
        verified = signing.verify(
            dict(entry.headers),
            entry.value,
            registry,
            kind=KeyKind.audit_writer,
            purpose=AUDIT_RECORD,
        )
    except NoticeError as exc:
        return f"writer signature: {exc}"
    if verified.owner != entitled.writer:
        return (
            f"signed with key '{verified.key_id}' of the {verified.owner}, but only the "
            f"{entitled.writer} writes {kind} records"
        )
    return None
