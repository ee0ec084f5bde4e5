"""One function the shell calls: an input message in, deliveries and audit records out.

Pure apart from the clock passed in: no Kafka, no Faust. Every input yields either one
decision (and one audit record) per registered recipient, or one dead letter and one audit
record. Nothing is dropped.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from broker import crypto, e2e, envelope, national_id, signing
from broker.errors import FieldProblem, NoticeError
from broker.models import (
    NOTICE_SENDERS,
    AuditEvent,
    AuditRecord,
    Decision,
    Delivery,
    Notice,
    Outcome,
)
from broker.paths import leaves
from broker.policy import PolicySet, decide
from broker.policy.evaluate import Facts
from broker.redaction import pseudonym_key
from broker.topics import TopicNames

AUDIT_TYPE = "no.oslo.broker.audit-record.v1"
DELIVERY_TYPE = "no.oslo.broker.delivery.v1"
SOURCE = "/broker"


@dataclass(frozen=True)
class Source:
    topic: str
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"


@dataclass(frozen=True)
class OutMessage:
    topic: str
    key: bytes | None
    value: bytes
    headers: envelope.Headers


@dataclass(frozen=True)
class Result:
    decisions: tuple[Decision, ...]
    deliveries: tuple[OutMessage, ...]
    audit_records: tuple[OutMessage, ...]
    dead_letter: OutMessage | None
    error: NoticeError | None = None


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Pipeline:
    def __init__(
        self,
        policy: PolicySet,
        topics: TopicNames,
        subject_key: bytes,
        clock: Callable[[], datetime] = _utcnow,
        *,
        verifier: signing.NoticeVerifier | None = None,
        sealer: e2e.DeliverySealer | None = None,
        inbox: e2e.NoticeOpener | None = None,
    ) -> None:
        self.policy = policy
        self.topics = topics
        self.subject_key = subject_key
        self.clock = clock
        # None only in tests of the policy core; the worker always sets both
        self.verifier = verifier
        self.sealer = sealer
        self.inbox = inbox
        # each recipient's own pseudonym key (two recipients cannot join on pseudonyms),
        # derived once rather than for every notice
        self.pseudonym_keys = {r: pseudonym_key(subject_key, r) for r in policy.recipients}

    def process(
        self, value: bytes, headers: Iterable[tuple[str, bytes]] | None, source: Source
    ) -> Result:
        hmap = envelope.header_map(headers)
        now = self.clock()
        plain = value
        try:
            if self.inbox is not None:  # sealed to the broker in transit and at rest on Kafka
                try:
                    plain = self.inbox.open(hmap, value)
                except e2e.DecryptionError as exc:
                    raise NoticeError(exc.code, [FieldProblem("value", str(exc))]) from None
            # authenticate before reading: signature, key, time window, replay
            verified = (self.verifier.verify(hmap, plain, position=str(source), now=now)
                        if self.verifier is not None else None)
            notice = envelope.decode_notice(hmap, plain, now=now)
            if verified is not None:
                signing.check_issuer(verified, notice.issuer.unit_id)
                signing.check_sender(verified, notice.notice_type)
            if self.sealer is not None:  # refuses a notice whose data key was purged
                self.sealer.prepare(str(notice.notice_id), notice.notice_type, now)
        except NoticeError as error:
            # the input goes to the dead-letter topic as it came (sealed); the audit record
            # may use the opened notice for its id and keyed subject reference
            return self._dead_letter(value, tuple(headers or ()), hmap, source, error,
                                     plain=plain)
        return self._decide(notice, source)

    # --- valid notices -------------------------------------------------------------------

    def _decide(self, notice: Notice, source: Source) -> Result:
        now = self.clock()
        doc = notice.model_dump(mode="json", exclude_none=True)
        sender = NOTICE_SENDERS[notice.notice_type]
        # what the conditions read, converted for CEL once and shared by every recipient
        facts = Facts(self.policy, notice.notice_type, doc, notice.child_age())
        nin = notice.child.national_id
        subject_ref = crypto.subject_ref(self.subject_key, nin)
        all_fields = sorted({path for path, _ in leaves(doc)})
        decisions, deliveries, audits = [], [], []
        for recipient in self.policy.recipients.values():
            verdict = decide(
                self.policy,
                sender=sender,
                notice_type=notice.notice_type,
                recipient=recipient.id,
                doc=doc,
                facts=facts,
                pseudonym_key=self.pseudonym_keys[recipient.id],
            )
            kept = list(verdict.redacted.kept) if verdict.redacted else []
            withheld = list(verdict.redacted.withheld) if verdict.redacted else all_fields
            transformed = dict(verdict.redacted.transformed) if verdict.redacted else {}
            decision = Decision(
                notice_id=notice.notice_id,
                notice_type=notice.notice_type,
                recipient=recipient.id,
                outcome=verdict.outcome,
                rule_id=verdict.rule.id if verdict.rule else None,
                legal_basis=verdict.legal_basis,
                reasons=list(verdict.reasons),
                fields_kept=kept,
                fields_withheld=withheld,
                policy_version=self.policy.version,
                fields_transformed=transformed,
                review_required=verdict.review_required,
            )
            decisions.append(decision)
            delivery_id = topic = delivery_sha256 = None
            if verdict.outcome is Outcome.deliver and verdict.rule and verdict.redacted:
                assert verdict.legal_basis is not None
                delivery_id = crypto.stable_id("delivery", str(notice.notice_id), recipient.id)
                topic = self.topics.delivery(recipient.topic)
                delivery = Delivery(
                    delivery_id=delivery_id,
                    notice_type=notice.notice_type,
                    recipient=recipient.id,
                    rule_id=verdict.rule.id,
                    legal_basis=verdict.legal_basis,
                    purpose=verdict.rule.purpose,
                    policy_version=self.policy.version,
                    fields_withheld=withheld,
                    notice=verdict.redacted.copy,
                    fields_transformed=transformed,
                )
                key = crypto.partition_key(self.subject_key, recipient.id, nin)
                if self.sealer is not None:  # encrypted to the recipient, signed by the broker
                    sealed = self.sealer.seal(
                        delivery, delivery_id=delivery_id, recipient=recipient.id,
                        notice_id=str(notice.notice_id), notice_type=notice.notice_type,
                        event_type=DELIVERY_TYPE, source=SOURCE, time=now, key=key,
                    )
                    deliveries.append(OutMessage(topic, sealed.key, sealed.value, sealed.headers))
                    delivery_sha256 = sealed.commitment
                else:
                    k, v, h = envelope.encode(
                        DELIVERY_TYPE, SOURCE, delivery_id, now, data=delivery, key=key
                    )
                    deliveries.append(OutMessage(topic, k, v, h))
            record = AuditRecord(
                record_id=crypto.stable_id("decision", str(notice.notice_id), recipient.id),
                event=AuditEvent.decision,
                recorded_at=now,
                policy_version=self.policy.version,
                notice_id=str(notice.notice_id),
                notice_type=notice.notice_type,
                source=str(source),
                subject_ref=subject_ref,
                recipient=recipient.id,
                outcome=verdict.outcome,
                rule_id=decision.rule_id,
                legal_basis=verdict.legal_basis,
                reasons=decision.reasons,
                fields_kept=kept,
                fields_withheld=withheld,
                fields_transformed=transformed,
                delivery_id=delivery_id,
                delivery_topic=topic,
                delivery_sha256=delivery_sha256,
                # an urgent disclosure (danger to life or health) must be reviewed afterwards
                review_required=verdict.review_required,
            )
            audits.append(self._audit_message(record))
        return Result(tuple(decisions), tuple(deliveries), tuple(audits), None)

    # --- invalid input ---------------------------------------------------------------------

    def _dead_letter(
        self,
        value: bytes,
        headers: envelope.Headers,
        hmap: dict[str, bytes],
        source: Source,
        error: NoticeError,
        *,
        plain: bytes | None = None,
    ) -> Result:
        now = self.clock()
        probe = _probe(value if plain is None else plain)
        kind = envelope.notice_type_of(hmap)
        nin = probe.get("national_id")
        record = AuditRecord(
            record_id=crypto.stable_id("dead-letter", str(source), crypto.sha256_hex(value)),
            event=AuditEvent.dead_letter,
            recorded_at=now,
            policy_version=self.policy.version,
            notice_id=probe.get("notice_id"),
            notice_type=kind[0] if kind else None,
            source=str(source),
            subject_ref=crypto.subject_ref(self.subject_key, nin) if nin else None,
            reasons=[f"{error.code}: {p}" for p in error.problems],
            input_sha256=crypto.sha256_hex(value),
        )
        reason = json.dumps(
            {
                "code": error.code,
                "problems": [{"field": p.field, "reason": p.reason} for p in error.problems],
            }
        )
        dlq_headers = (
            *headers,
            ("broker_error", reason.encode()),
            ("broker_source", str(source).encode()),
        )
        dead = OutMessage(self.topics.dead_letter, None, value, dlq_headers)
        return Result((), (), (self._audit_message(record),), dead, error)

    def _audit_message(self, record: AuditRecord) -> OutMessage:
        key = record.subject_ref.encode() if record.subject_ref else None
        k, v, h = envelope.encode(
            AUDIT_TYPE, SOURCE, record.record_id, record.recorded_at, data=record, key=key
        )
        return OutMessage(self.topics.audit, k, v, h)


def _probe(value: bytes) -> dict[str, str]:
    """What can safely be salvaged from an invalid input for the audit record: a well-formed
    notice id, and the national id only to compute its keyed reference."""
    out: dict[str, str] = {}
    try:
        data: Any = json.loads(value)
    except (ValueError, UnicodeDecodeError):
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
