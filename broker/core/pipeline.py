"""One function the shell calls: an input message in, deliveries and audit records out.

Open (notices arrive sealed to the broker) → verify (signature, time, replay) → decode → decide
→ seal → record. Pure apart from what is passed in (the clock, the replay guard and the
data-key store, as Protocols): no Kafka, no Faust, no file. Every input yields either one
decision (and one audit record) per registered recipient, or one dead letter and one audit
record. Nothing is dropped, and ``process`` never raises: whatever goes wrong with one input,
including a bug, becomes that input's dead letter, so the rest of its batch goes on.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from broker.core import dead_letters, decisions, envelope
from broker.core.audit import writers
from broker.core.crypto import refs, sealing, signing
from broker.core.crypto.registry import SigningKey
from broker.core.deployment.topics import TopicNames
from broker.core.directory import Directory, Organisation, Unresolved
from broker.core.errors import FieldProblem, NoticeError
from broker.core.notices import Notice
from broker.core.policy import PolicySet
from broker.core.records import (
    AuditEvent,
    AuditRecord,
    Decision,
    Delivery,
    PartitionFloor,
    ReplayClaim,
    SealedCopy,
)
from broker.core.redaction import pseudonym_key
from broker.core.retention import DEAD_LETTER_KIND, DataKeyStore

if TYPE_CHECKING:
    from broker.core.repartition import Route

AUDIT_TYPE = "no.oslo.broker.audit-record.v1"
DELIVERY_TYPE = "no.oslo.broker.delivery.v1"
DEAD_LETTER_TYPE = "no.oslo.broker.dead-letter.v1"
PROGRESS_TYPE = "no.oslo.broker.progress.v1"
BROKER_SOURCE = "/broker"  # the ce_source of everything the broker writes


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


class Pipeline:
    """Decide inputs with everything production uses, passed in: the verifier (signatures,
    time window, replay guard), the broker's inbox (notices arrive sealed to it), the sealer
    (deliveries leave sealed to their recipient), the data-key store and the audit-writer key
    (every audit record is signed). broker.testing.fakes builds one with keys in memory."""

    def __init__(
        self,
        policy: PolicySet,
        topics: TopicNames,
        subject_key: bytes,
        *,
        directory: Directory,
        clock: Callable[[], datetime],
        verifier: signing.NoticeVerifier,
        inbox: sealing.NoticeOpener,
        sealer: sealing.DeliverySealer,
        data_keys: DataKeyStore,
        audit_key: SigningKey,
    ) -> None:
        self.policy = policy
        self.directory = directory  # who fills each recipient role for one notice
        self.topics = topics
        self.subject_key = subject_key
        self.clock = clock
        self.verifier = verifier
        self.inbox = inbox
        self.sealer = sealer
        self.data_keys = data_keys
        self.audit_key = audit_key  # the worker's audit-writer key (broker.core.audit.writers)
        # each organisation's own pseudonym key (two organisations, even two schools, cannot
        # join on pseudonyms), derived once rather than for every notice; a role's own key
        # redacts only a copy that is then denied for want of an organisation
        owners = [*policy.recipients, *directory.organisations]
        self.pseudonym_keys = {o: pseudonym_key(subject_key, o) for o in owners}

    def process(
        self,
        value: bytes | None,
        headers: envelope.RawHeaders | None,
        source: Source,
        route: Route | None = None,
        batch: sealing.SealBatch | None = None,
    ) -> Result:
        """Decide one input read at ``source``. ``route``: how it reached this worker's routed
        partition (broker.core.repartition), which owns its id; None for an input decided
        where it was read (stage 1's dead letters, tests, `policy explain`). ``batch``: the
        batch keys of the transaction this input's outputs go in (its own if None). Never
        raises."""
        raw = tuple(headers or ())
        data = value if value is not None else b""
        try:
            result = self._process(
                value, raw, source, route, batch if batch is not None else sealing.SealBatch()
            )
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
        self,
        value: bytes | None,
        raw: tuple[tuple[str, bytes | None], ...],
        source: Source,
        route: Route | None,
        batch: sealing.SealBatch,
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
            opened = plain = self._open(hmap, value)
            # decoded once, when first needed: by the route check (after the signature, before
            # the id is claimed) or else after verification
            decode = functools.cache(lambda: envelope.decode_notice(hmap, opened, now=now))
            # authenticate before reading: signature, key, time window, replay
            verified = self.verifier.verify(
                hmap,
                plain,
                position=str(source),
                now=now,
                routed=(lambda _id: self._check_route(route, decode())) if route else None,
            )
            # the guard's memory of the id: on the progress partition of the partition owning it
            claim = self._claim(verified, source, route.partition if route else source.partition)
            notice = decode()
            signing.check_issuer(verified, notice.issuer.unit_id)
            signing.check_sender(verified, notice.notice_type)
            publisher = self._publisher(verified)
            # a RetentionError (a NoticeError) here dead-letters a replayed notice whose data
            # key was already destroyed: it is never re-keyed
            data_key = self.data_keys.data_key(str(notice.notice_id), notice.notice_type, now)
        except NoticeError as error:
            result = self._dead_letter(data, raw, hmap, source, error, plain=plain, now=now)
            return _with(result, claim)
        return _with(self._decide(notice, publisher, source, now, data_key, batch=batch), claim)

    def _publisher(self, verified: signing.Verified) -> Organisation:
        """The organisation that published the notice, as the directory lists it: a notice
        signed for an organisation the directory does not list, or of a kind that does not
        send the notice's class, is dead-lettered (deny by default)."""
        found = self.directory.publisher(verified.organisation, verified.sender)
        if isinstance(found, Unresolved):
            raise NoticeError(found.code, [FieldProblem("ce_keyid", found.detail)])
        return found

    def _check_route(self, route: Route, notice: Notice) -> None:
        """A verified notice was routed by the key of the child it is about (what its publisher
        keyed it by). Decoded first: an input that is no notice is dead-lettered with its own
        reason, not blamed on its route."""
        route.check(refs.partition_key(self.subject_key, "notices", notice.child.national_id))

    def _open(self, headers: dict[str, bytes], value: bytes) -> bytes:
        """The notice in clear: it is sealed to the broker in transit and at rest on Kafka."""
        try:
            return self.inbox.open(headers, value)
        except sealing.DecryptionError as exc:
            raise NoticeError(exc.code, [FieldProblem("value", str(exc))]) from None

    def _claim(self, verified: signing.Verified, source: Source, partition: int) -> OutMessage:
        """The replay guard's entry for a verified notice, for the worker's progress topic: it
        is the guard's memory across restarts, written in the input's own transaction."""
        forget_after = verified.time + self.verifier.max_age + self.verifier.max_skew
        claim = ReplayClaim(
            notice_id=verified.message_id, position=str(source), forget_after=forget_after
        )
        return progress_message(self.topics, partition, claim)

    # --- valid notices: decide, build the delivery, seal it, record it, per recipient ----

    def _decide(
        self,
        notice: Notice,
        publisher: Organisation,
        source: Source,
        now: datetime,
        data_key: bytes,
        *,
        batch: sealing.SealBatch,
    ) -> Result:
        """Per recipient: decide (pure policy), build the delivery, seal it, build the audit
        record (broker.core.decisions). One decision and one audit record per recipient."""
        case = decisions.Case.of(notice, self.policy, self.subject_key, publisher.id)
        made, deliveries, audits = [], [], []
        for recipient in self.policy.recipients.values():
            # the organisation first: its own pseudonym key redacts its copy
            found = decisions.resolve(recipient.id, case, self.directory)
            owner = found.id if isinstance(found, Organisation) else recipient.id
            verdict = decisions.verdict(self.policy, case, recipient.id, self.pseudonym_keys[owner])
            verdict, organisation = decisions.routed(verdict, found)
            moved_from = decisions.moved_from(recipient.id, case, self.directory)
            decision = decisions.decision(case, verdict, self.policy, organisation, moved_from)
            delivery = decisions.delivery(verdict, decision)
            sent = None
            if delivery is not None and organisation is not None:
                message, sent = self._seal(
                    delivery, notice, organisation, now, data_key, batch=batch
                )
                deliveries.append(message)
            made.append(decision)
            record = decisions.audit_record(case, decision, str(source), now, sent)
            audits.append(self._audit_message(record))
        return Result(tuple(made), tuple(deliveries), tuple(audits), None)

    def _seal(
        self,
        delivery: Delivery,
        notice: Notice,
        organisation: Organisation,
        now: datetime,
        data_key: bytes,
        *,
        batch: sealing.SealBatch,
    ) -> tuple[OutMessage, decisions.Sent]:
        """The delivery encrypted to its organisation and signed by the broker, on the
        organisation's own topic, keyed per organisation (two cannot join on the key)."""
        sealed = self.sealer.seal(
            delivery,
            data_key=data_key,
            delivery_id=delivery.delivery_id,
            organisation=organisation.id,
            event_type=DELIVERY_TYPE,
            source=BROKER_SOURCE,
            time=now,
            key=refs.partition_key(self.subject_key, organisation.id, notice.child.national_id),
            batch=batch,
        )
        topic = self.topics.delivery(self.directory.topics[organisation.id])
        message = OutMessage(topic, sealed.key, sealed.value, sealed.headers)
        return message, decisions.Sent(delivery.delivery_id, topic, sealed.commitment)

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
        else a reference only (broker.core.dead_letters)."""
        copy = None
        if plain is not None:  # a copy under a data key of its own (retention purges it)
            copy_id = refs.stable_id("dead-letter-copy", str(source), refs.sha256_hex(value))
            key = self.data_keys.data_key(copy_id, DEAD_LETTER_KIND, now)
            payload = dead_letters.copy_payload(headers, value)
            copy = sealing.seal_copy(payload, data_key=key, data_key_id=copy_id)
        salvaged = dead_letters.Salvaged.of(plain, hmap, self.subject_key)
        return self._dead_letter_result(value, source, error, now=now, copy=copy, salvaged=salvaged)

    def refused(self, value: bytes | None, source: Source, error_class: str) -> Result:
        """Kafka refused this input's outputs for what they are: a reference instead."""
        error = NoticeError(
            "output-refused", [FieldProblem("(output)", f"Kafka refused it: {error_class}")]
        )
        return self._reference(value or b"", source, error)

    def _reference(self, value: bytes, source: Source, error: NoticeError) -> Result:
        """A dead letter that refers to the input and copies nothing: the last resort, built
        from nothing but the position and the bytes' hash, so that it cannot fail."""
        salvaged = dead_letters.Salvaged()
        return self._dead_letter_result(
            value, source, error, now=self.clock(), copy=None, salvaged=salvaged
        )

    def _dead_letter_result(
        self,
        value: bytes,
        source: Source,
        error: NoticeError,
        *,
        now: datetime,
        copy: SealedCopy | None,
        salvaged: dead_letters.Salvaged,
    ) -> Result:
        letter, record = dead_letters.records(
            value,
            str(source),
            error,
            now=now,
            policy_version=self.policy.version,
            copy=copy,
            salvaged=salvaged,
        )
        k, v, h = envelope.encode(
            DEAD_LETTER_TYPE, BROKER_SOURCE, letter.dead_letter_id, now, data=letter, key=None
        )
        dead = OutMessage(self.topics.dead_letter, k, v, (*h, *dead_letters.headers(letter)))
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
            AUDIT_TYPE, BROKER_SOURCE, record.record_id, record.recorded_at, data=record, key=key
        )
        h = writers.sign(h, v, self.audit_key)
        return OutMessage(self.topics.audit, k, v, h)


def _with(result: Result, claim: OutMessage | None) -> Result:
    """``result`` with the notice's replay claim among its progress records."""
    if claim is None:
        return result
    return dataclasses.replace(result, progress=(*result.progress, claim))


def progress_message(
    topics: TopicNames, partition: int, record: PartitionFloor | ReplayClaim
) -> OutMessage:
    """A record of the worker's own progress, on the progress partition of its input
    partition (compacted: the key keeps the latest; a partition's floor per input topic)."""
    if isinstance(record, PartitionFloor):
        key = f"floor:{record.topic}".encode()
    else:
        key = f"claim:{record.notice_id}".encode()
    return OutMessage(
        topics.progress,
        key,
        record.model_dump_json().encode(),
        (("ce_type", PROGRESS_TYPE.encode()),),
        partition=partition,
    )
