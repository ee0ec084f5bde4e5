"""One notice decided for each recipient, as the broker's records: the policy's verdict, the
Decision, the Delivery it allows and the audit record of both. Pure: the pipeline
(broker.core.pipeline) seals the delivery between building it and recording it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from broker.core.crypto import refs
from broker.core.directory import Directory, Organisation, Unresolved
from broker.core.notices import NOTICE_SENDERS, ConcernFeedback, Notice
from broker.core.paths import leaves
from broker.core.policy import Facts, PolicySet, Verdict, decide
from broker.core.policy.duties import Duty, opened
from broker.core.records import Answer, AuditEvent, AuditRecord, Decision, Delivery, Outcome


@dataclass(frozen=True)
class Case:
    """One valid notice as every recipient's decision reads it, built once per notice."""

    notice: Notice
    doc: dict[str, Any]
    sender: str
    facts: Facts  # what the conditions read, converted for CEL once
    subject_ref: str  # the child's keyed reference, for the audit records
    all_fields: list[str]  # every field: what a denied recipient is withheld
    publisher: str  # the organisation that published it (the directory's id)

    @classmethod
    def of(cls, notice: Notice, policy: PolicySet, subject_key: bytes, publisher: str) -> Case:
        doc = notice.model_dump(mode="json", exclude_none=True)
        return cls(
            notice,
            doc,
            NOTICE_SENDERS[notice.notice_type],
            Facts(policy, notice.notice_type, doc, notice.child_age()),
            refs.subject_ref(subject_key, notice.child.national_id),
            sorted({path for path, _ in leaves(doc)}),
            publisher,
        )


def verdict(policy: PolicySet, case: Case, recipient: str, pseudonym_key: bytes) -> Verdict:
    """The policy's decision for one recipient, with its redacted copy."""
    return decide(
        policy,
        sender=case.sender,
        notice_type=case.notice.notice_type,
        recipient=recipient,
        doc=case.doc,
        facts=case.facts,
        pseudonym_key=pseudonym_key,
    )


def resolve(recipient: str, case: Case, directory: Directory) -> Organisation | Unresolved:
    """The organisation that fills the recipient role for this notice (the pupil's school, the
    child's district's service, …), or why none does."""
    return directory.resolve(recipient, case.doc.get("child", {}))


def moved_from(
    recipient: str, case: Case, directory: Directory
) -> Organisation | Unresolved | None:
    """The service of the district the child moved from, for a role resolved by district (or
    why the directory has none); None if the notice names no previous district. It is named,
    never delivered to."""
    return directory.moved_from(recipient, case.doc.get("child", {}))


def routed(
    verdict: Verdict, found: Organisation | Unresolved
) -> tuple[Verdict, Organisation | None]:
    """The verdict as delivered to ``found``: a delivery with no organisation becomes a deny
    naming why, never a fallback to every organisation of the role."""
    if isinstance(found, Organisation):
        return verdict, found
    if verdict.outcome is not Outcome.deliver:
        return verdict, None
    rule = f" (rule {verdict.rule.id})" if verdict.rule else ""
    denied = dataclasses.replace(
        verdict,
        outcome=Outcome.deny,
        rule=None,
        legal_basis=None,
        redacted=None,
        review_required=False,
        controller_decision=None,
        confidentiality=None,
        reasons=(*verdict.reasons, f"{found.code}: {found.detail}{rule}"),
    )
    return denied, None


def answers(case: Case) -> Answer | None:
    """For a concern feedback: the report it answers and its status (on every recipient's
    decision, delivered or not: child welfare gave the feedback either way)."""
    notice = case.notice
    if not isinstance(notice, ConcernFeedback):
        return None
    return Answer(notice_id=str(notice.concern_ref), status=str(notice.status))


def duties_opened(case: Case, verdict: Verdict, duties: tuple[Duty, ...]) -> list[str]:
    """The obligations a delivered decision opens (policies/duties.yaml); none for a deny."""
    if verdict.outcome is not Outcome.deliver or verdict.legal_basis is None:
        return []
    feedback = case.notice if isinstance(case.notice, ConcernFeedback) else None
    return opened(
        duties,
        sender=case.sender,
        basis=verdict.legal_basis.id,
        notice_type=case.notice.notice_type,
        recipient=verdict.recipient,
        status=str(feedback.status) if feedback else None,
    )


def decision(
    case: Case,
    verdict: Verdict,
    policy: PolicySet,
    organisation: Organisation | None = None,
    moved_from: Organisation | Unresolved | None = None,
) -> Decision:
    """The decision for one recipient: a denied recipient is withheld every field. The service
    of the district the child moved from is named in ``also_concerned``; one the directory does
    not list is a reason before the policy's, so that the last reason stays the deciding one.
    A delivery names the duties it opens."""
    redacted = verdict.redacted
    also = [moved_from.id] if isinstance(moved_from, Organisation) else []
    notes = [str(moved_from)] if isinstance(moved_from, Unresolved) else []
    return Decision(
        notice_id=case.notice.notice_id,
        notice_type=case.notice.notice_type,
        recipient=verdict.recipient,
        outcome=verdict.outcome,
        rule_id=verdict.rule.id if verdict.rule else None,
        legal_basis=verdict.legal_basis,
        reasons=[*notes, *verdict.reasons],
        fields_kept=list(redacted.kept) if redacted else [],
        fields_withheld=list(redacted.withheld) if redacted else case.all_fields,
        policy_version=policy.version,
        fields_transformed=dict(redacted.transformed) if redacted else {},
        review_required=verdict.review_required,
        organisation=organisation.id if organisation else None,
        also_concerned=also,
        duties=duties_opened(case, verdict, policy.duties),
        answers=answers(case),
        controller_decision=verdict.controller_decision,
        confidentiality_imposed=verdict.confidentiality is not None,
    )


def delivery(verdict: Verdict, decision: Decision) -> Delivery | None:
    """What the recipient receives, if the decision is to deliver (still in clear)."""
    if verdict.outcome is not Outcome.deliver or not verdict.rule or not verdict.redacted:
        return None
    assert decision.legal_basis is not None
    return Delivery(
        delivery_id=refs.stable_id("delivery", str(decision.notice_id), decision.recipient),
        notice_type=decision.notice_type,
        recipient=decision.recipient,
        rule_id=verdict.rule.id,
        legal_basis=decision.legal_basis,
        purpose=verdict.rule.purpose.en,
        purpose_nb=verdict.rule.purpose.nb,
        policy_version=decision.policy_version,
        fields_withheld=decision.fields_withheld,
        notice=verdict.redacted.copy,
        fields_transformed=decision.fields_transformed,
        organisation=decision.organisation,
        confidentiality=verdict.confidentiality,
    )


@dataclass(frozen=True)
class Sent:
    """A sealed delivery, as its audit record names it."""

    delivery_id: str
    topic: str
    sha256: str  # the commitment to the sealed bytes, never to plaintext


def audit_record(
    case: Case, decision: Decision, source: str, now: datetime, sent: Sent | None
) -> AuditRecord:
    """The audit record of one decision: field names, the child's keyed reference and a
    commitment to the sealed delivery, never a value."""
    notice_id = str(decision.notice_id)
    return AuditRecord(
        record_id=refs.stable_id("decision", notice_id, decision.recipient),
        event=AuditEvent.decision,
        recorded_at=now,
        policy_version=decision.policy_version,
        notice_id=notice_id,
        notice_type=decision.notice_type,
        source=source,
        subject_ref=case.subject_ref,
        recipient=decision.recipient,
        outcome=decision.outcome,
        rule_id=decision.rule_id,
        legal_basis=decision.legal_basis,
        reasons=decision.reasons,
        fields_kept=decision.fields_kept,
        fields_withheld=decision.fields_withheld,
        fields_transformed=decision.fields_transformed,
        delivery_id=sent.delivery_id if sent else None,
        delivery_topic=sent.topic if sent else None,
        delivery_sha256=sent.sha256 if sent else None,
        # an urgent disclosure (danger to life or health) must be reviewed afterwards
        review_required=decision.review_required,
        organisation=decision.organisation,
        publisher=case.publisher,
        also_concerned=decision.also_concerned,
        duties=decision.duties,
        answers=decision.answers,
        controller_decision=decision.controller_decision,
        confidentiality_imposed=decision.confidentiality_imposed,
    )
