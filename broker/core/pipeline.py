"""One function the shell calls: an input message in, deliveries and audit records out.

Pure apart from the clock passed in: no Kafka, no Faust. Every input yields either one
decision (and one audit record) per registered recipient, or one dead letter and one audit
record. Nothing is dropped, and ``process`` never raises: whatever goes wrong with one input,
including a bug, becomes that input's dead letter, so the rest of its batch goes on.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from broker.core import envelope, national_id
from broker.core.audit import writers
from broker.core.crypto import refs, sealing, signing
from broker.core.crypto.registry import SigningKey
from broker.core.deployment.topics import TopicNames
from broker.core.errors import FieldProblem, NoticeError
from broker.core.notices import NOTICE_SENDERS, Notice
from broker.core.paths import leaves
from broker.core.policy import PolicySet, decide
from broker.core.policy.evaluate import Facts
from broker.core.records import (
    AuditEvent,
    AuditRecord,
    DeadLetter,
    Decision,
    Delivery,
    Outcome,
    PartitionFloor,
    Problem,
    ReplayClaim,
    SealedCopy,
)
from broker.core.redaction import pseudonym_key

AUDIT_TYPE = "no.oslo.broker.audit-record.v1"
DELIVERY_TYPE = "no.oslo.broker.delivery.v1"
DEAD_LETTER_TYPE = "no.oslo.broker.dead-letter.v1"
PROGRESS_TYPE = "no.oslo.broker.progress.v1"
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
    partition: int | None = None  # None: Kafka's partitioner decides by key

    def size(self) -> int:
        return len(self.key or b"") + len(self.value) + envelope.header_size(self.headers)


@dataclass(frozen=True)
class Result:
    decisions: tuple[Decision, ...]
    deliveries: tuple[OutMessage, ...]
    audit_records: tuple[OutMessage, ...]
    dead_letter: OutMessage | None
    error: NoticeError | None = None
    # the worker's own state: notice ids accepted (the replay guard, after a restart)
    progress: tuple[OutMessage, ...] = ()

    def messages(self) -> list[OutMessage]:
        """Everything to write for this input, in one transaction with its offset."""
        dead = [self.dead_letter] if self.dead_letter else []
        return [*self.deliveries, *dead, *self.progress, *self.audit_records]


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
        sealer: sealing.DeliverySealer | None = None,
        inbox: sealing.NoticeOpener | None = None,
        audit_key: SigningKey | None = None,
    ) -> None:
        self.policy = policy
        self.topics = topics
        self.subject_key = subject_key
        self.clock = clock
        # None only in tests of the policy core; the worker always sets both
        self.verifier = verifier
        self.sealer = sealer
        self.inbox = inbox
        # the worker's audit-writer key: it signs every audit record (broker.core.audit.writers);
        # None only in tests of the policy core
        self.audit_key = audit_key
        # each recipient's own pseudonym key (two recipients cannot join on pseudonyms),
        # derived once rather than for every notice
        self.pseudonym_keys = {r: pseudonym_key(subject_key, r) for r in policy.recipients}

    def process(
        self, value: bytes | None, headers: envelope.RawHeaders | None, source: Source
    ) -> Result:
        """Decide one input. Never raises."""
        raw = tuple(headers or ())
        data = value if value is not None else b""
        try:
            result = self._process(value, raw, source)
        except Exception as exc:  # a bug must cost this input only, not its batch
            error = NoticeError("internal-error", [FieldProblem("(worker)", type(exc).__name__)])
            return self._reference(data, source, error)
        if any(m.size() > envelope.MAX_RECORD_BYTES for m in result.messages()):
            error = NoticeError(
                "output-too-large",
                [
                    FieldProblem(
                        "(output)", f"an output would exceed {envelope.MAX_RECORD_BYTES} bytes"
                    )
                ],
            )
            return self._reference(data, source, error)
        return result

    def _process(
        self, value: bytes | None, raw: tuple[tuple[str, bytes | None], ...], source: Source
    ) -> Result:
        now = self.clock()
        data = value if value is not None else b""
        plain: bytes | None = None  # the notice, once opened: it arrived sealed to the broker
        hmap: dict[str, bytes] = {}
        claim: OutMessage | None = None
        try:
            hmap = envelope.parse_headers(raw)  # first: it also finds unparseable records
            if value is None:
                raise NoticeError("value-missing", [FieldProblem("value", "is null")])
            if len(value) > envelope.MAX_INPUT_BYTES:
                raise NoticeError(
                    "too-large",
                    [FieldProblem("value", f"larger than {envelope.MAX_INPUT_BYTES} bytes")],
                )
            if self.inbox is not None:  # sealed to the broker in transit and at rest on Kafka
                try:
                    plain = self.inbox.open(hmap, value)
                except sealing.DecryptionError as exc:
                    raise NoticeError(exc.code, [FieldProblem("value", str(exc))]) from None
            text = value if plain is None else plain
            # authenticate before reading: signature, key, time window, replay
            verified = None
            if self.verifier is not None:
                verified = self.verifier.verify(hmap, text, position=str(source), now=now)
                claim = self._claim(verified, source)
            notice = envelope.decode_notice(hmap, text, now=now)
            if verified is not None:
                signing.check_issuer(verified, notice.issuer.unit_id)
                signing.check_sender(verified, notice.notice_type)
            if self.sealer is not None:  # refuses a notice whose data key was purged
                self.sealer.prepare(str(notice.notice_id), notice.notice_type, now)
        except NoticeError as error:
            result = self._dead_letter(data, raw, hmap, source, error, plain=plain, now=now)
            return self._with(result, claim)
        return self._with(self._decide(notice, source, now), claim)

    @staticmethod
    def _with(result: Result, claim: OutMessage | None) -> Result:
        if claim is None:
            return result
        return Result(
            result.decisions,
            result.deliveries,
            result.audit_records,
            result.dead_letter,
            result.error,
            (*result.progress, claim),
        )

    def _claim(self, verified: signing.Verified, source: Source) -> OutMessage:
        """The replay guard's entry for a verified notice, for the worker's progress topic: it
        is the guard's memory across restarts, written in the input's own transaction."""
        assert self.verifier is not None
        forget_after = verified.time + self.verifier.max_age + self.verifier.max_skew
        claim = ReplayClaim(
            notice_id=verified.message_id, position=str(source), forget_after=forget_after
        )
        return progress_message(self.topics, source.partition, claim)

    # --- valid notices -------------------------------------------------------------------

    def _decide(self, notice: Notice, source: Source, now: datetime) -> Result:
        doc = notice.model_dump(mode="json", exclude_none=True)
        sender = NOTICE_SENDERS[notice.notice_type]
        # what the conditions read, converted for CEL once and shared by every recipient
        facts = Facts(self.policy, notice.notice_type, doc, notice.child_age())
        nin = notice.child.national_id
        subject_ref = refs.subject_ref(self.subject_key, nin)
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
                delivery_id = refs.stable_id("delivery", str(notice.notice_id), recipient.id)
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
                key = refs.partition_key(self.subject_key, recipient.id, nin)
                if self.sealer is not None:  # encrypted to the recipient, signed by the broker
                    sealed = self.sealer.seal(
                        delivery,
                        delivery_id=delivery_id,
                        recipient=recipient.id,
                        notice_id=str(notice.notice_id),
                        notice_type=notice.notice_type,
                        event_type=DELIVERY_TYPE,
                        source=SOURCE,
                        time=now,
                        key=key,
                    )
                    deliveries.append(OutMessage(topic, sealed.key, sealed.value, sealed.headers))
                    delivery_sha256 = sealed.commitment
                else:
                    k, v, h = envelope.encode(
                        DELIVERY_TYPE, SOURCE, delivery_id, now, data=delivery, key=key
                    )
                    deliveries.append(OutMessage(topic, k, v, h))
            record = AuditRecord(
                record_id=refs.stable_id("decision", str(notice.notice_id), recipient.id),
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
        headers: tuple[tuple[str, bytes | None], ...],
        hmap: dict[str, bytes],
        source: Source,
        error: NoticeError,
        *,
        plain: bytes | None,
        now: datetime,
    ) -> Result:
        """An invalid input: a dead letter with a sealed copy if it arrived sealed (it opened),
        else a reference only; the audit record may use the opened notice for its id and keyed
        subject reference."""
        probe = _probe(plain) if plain is not None else {}
        copy = None
        if plain is not None and self.sealer is not None:
            copy_id = refs.stable_id("dead-letter-copy", str(source), refs.sha256_hex(value))
            copy = self.sealer.seal_copy(copy_id, _copy_payload(headers, value), now)
        kind = envelope.notice_type_of(hmap)
        nin = probe.get("national_id")
        return self._dead_letter_result(
            value,
            source,
            error,
            now=now,
            copy=copy,
            notice_id=probe.get("notice_id"),
            notice_type=kind[0] if kind else None,
            subject_ref=refs.subject_ref(self.subject_key, nin) if nin else None,
        )

    def refused(self, value: bytes | None, source: Source, error_class: str) -> Result:
        """Kafka refused this input's outputs for what they are: a reference instead."""
        error = NoticeError(
            "output-refused", [FieldProblem("(output)", f"Kafka refused it: {error_class}")]
        )
        return self._reference(value or b"", source, error)

    def _reference(self, value: bytes, source: Source, error: NoticeError) -> Result:
        """A dead letter that refers to the input and copies nothing: the last resort, built
        from nothing but the position and the bytes' hash, so that it cannot fail."""
        return self._dead_letter_result(
            value,
            source,
            error,
            now=self.clock(),
            copy=None,
            notice_id=None,
            notice_type=None,
            subject_ref=None,
        )

    def _dead_letter_result(
        self,
        value: bytes,
        source: Source,
        error: NoticeError,
        *,
        now: datetime,
        copy: SealedCopy | None,
        notice_id: str | None,
        notice_type: str | None,
        subject_ref: str | None,
    ) -> Result:
        digest = refs.sha256_hex(value)
        record = AuditRecord(
            record_id=refs.stable_id("dead-letter", str(source), digest),
            event=AuditEvent.dead_letter,
            recorded_at=now,
            policy_version=self.policy.version,
            notice_id=notice_id,
            notice_type=notice_type,
            source=str(source),
            subject_ref=subject_ref,
            reasons=[f"{error.code}: {p}" for p in error.problems],
            input_sha256=digest,
        )
        problems = [Problem(field=p.field, reason=p.reason) for p in error.problems]
        letter = DeadLetter(
            dead_letter_id=record.record_id,
            recorded_at=now,
            source=str(source),
            input_sha256=digest,
            input_bytes=len(value),
            code=error.code,
            problems=problems,
            sealed_copy=copy,
        )
        reason = json.dumps({"code": error.code, "problems": [p.model_dump() for p in problems]})
        k, v, h = envelope.encode(
            DEAD_LETTER_TYPE, SOURCE, letter.dead_letter_id, now, data=letter, key=None
        )
        h = (*h, ("broker_error", reason.encode()), ("broker_source", str(source).encode()))
        dead = OutMessage(self.topics.dead_letter, k, v, h)
        return Result((), (), (self._audit_message(record),), dead, error)

    def worker_state(self, position: str, reason: str) -> OutMessage:
        """The audit record of a record of the worker's own state that it skipped (at
        ``position``, for ``reason``): signed like every record the worker writes."""
        record = AuditRecord(
            record_id=refs.stable_id("worker-state", position),
            event=AuditEvent.worker_state,
            recorded_at=self.clock(),
            policy_version=self.policy.version,
            notice_id=None,
            notice_type=None,
            source=position,
            subject_ref=None,
            reasons=[f"progress-corrupt: (record): {reason}"],
        )
        return self._audit_message(record)

    def _audit_message(self, record: AuditRecord) -> OutMessage:
        key = record.subject_ref.encode() if record.subject_ref else None
        k, v, h = envelope.encode(
            AUDIT_TYPE, SOURCE, record.record_id, record.recorded_at, data=record, key=key
        )
        if self.audit_key is not None:
            h = writers.sign(h, v, self.audit_key)
        return OutMessage(self.topics.audit, k, v, h)


def _copy_payload(headers: tuple[tuple[str, bytes | None], ...], value: bytes) -> bytes:
    """The input as it came, headers included, for a dead letter's sealed copy."""

    def b64(b: bytes | None) -> str | None:
        return None if b is None else base64.b64encode(b).decode("ascii")

    doc = {
        "headers": [
            [k.encode("utf-8", "surrogateescape").decode("utf-8", "replace"), b64(v)]
            for k, v in headers
        ],
        "value": b64(value),
    }
    return json.dumps(doc).encode()


def progress_message(
    topics: TopicNames, partition: int, record: PartitionFloor | ReplayClaim
) -> OutMessage:
    """A record of the worker's own progress, on the progress partition of its input
    partition (compacted: the key keeps the latest)."""
    key = b"floor" if isinstance(record, PartitionFloor) else f"claim:{record.notice_id}".encode()
    return OutMessage(
        topics.progress,
        key,
        record.model_dump_json().encode(),
        (("ce_type", PROGRESS_TYPE.encode()),),
        partition=partition,
    )


def _probe(value: bytes) -> dict[str, str]:
    """What can safely be salvaged from an invalid input for the audit record: a well-formed
    notice id, and the national id only to compute its keyed reference."""
    out: dict[str, str] = {}
    try:
        data: Any = envelope.loads_strict(value.decode("utf-8"))
    except (NoticeError, UnicodeDecodeError):
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
