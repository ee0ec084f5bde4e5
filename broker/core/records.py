"""The broker's own records: decisions, deliveries, audit records, dead letters, and the
worker's progress. Field names and keyed references, never a notice's values in clear (the
delivery's redacted copy is the one exception, and it is sealed for its recipient)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import Field, model_validator

from broker.core.notice_parts import Strict


class Outcome(StrEnum):
    deliver = "deliver"
    deny = "deny"


class LegalBasisRef(Strict):
    """The legal basis as cited at decision time (the catalogue may change later)."""

    id: str
    statute: str = Field(
        description="name and Lovdata id: 'Politiregisterloven (LOV-2010-05-28-16)'"
    )
    citation: str = Field(description="section, paragraph, number, letter: '§ 24 nr. 1'")
    status: str = Field(description="confirmed, guidance or inferred (policies/legal-bases.yaml)")
    source: str | None = Field(
        default=None, description="the statute's page on lovdata.no (None in older records)"
    )

    @model_validator(mode="before")
    @classmethod
    def _as_cited_before(cls, data: Any) -> Any:
        """Records and deliveries written before bases were cited as the law reads carry
        ``section`` and ``verified``: the audit log keeps them for ever, so they read as the
        citation and status they were (the bytes, which the log's hashes cover, are unchanged)."""
        if not isinstance(data, dict) or "citation" in data or "section" not in data:
            return data
        old = dict(data)
        old["citation"] = old.pop("section")
        if "verified" in old and "status" not in old:
            old["status"] = old.pop("verified")
        return old


class Answer(Strict):
    """Which concern report a concern feedback answers, and what it says: the report's notice
    id and the status, never case content."""

    notice_id: str = Field(description="notice id of the concern report answered")
    status: str = Field(description="the feedback's status (received, investigating, …)")


_DUTIES = (
    "ids of the obligations this decision opens (policies/duties.yaml); empty for denies and "
    "for records from before duties were tracked"
)
_ANSWERS = "for a concern feedback: the report it answers and its status"


class ControllerDecisionRef(Strict):
    """The controller's written decision a disclosure was made under, as the notice named it:
    the official and the decision, never the child."""

    reference: str = Field(description="the reference of the written decision")
    role: str = Field(description="the role of the official who decided")
    decided_by: str = Field(description="the official's id")
    decided_at: datetime


class Confidentiality(Strict):
    """A duty of confidentiality the police imposed on the recipient (prl § 35 second
    paragraph), carried in the recipient's copy."""

    basis: LegalBasisRef
    text: str


class Decision(Strict):
    """Deliver or deny one notice to one recipient, and why."""

    notice_id: UUID
    notice_type: str
    recipient: str
    outcome: Outcome
    rule_id: str | None
    legal_basis: LegalBasisRef | None
    reasons: list[str] = Field(description="stable reason codes with detail, never values")
    fields_kept: list[str]
    fields_withheld: list[str]
    policy_version: str
    fields_transformed: dict[str, str] = Field(
        default_factory=dict, description="released path -> operator (mask, generalise, ...)"
    )
    review_required: bool = False
    organisation: str | None = Field(
        default=None,
        description="the organisation (directory id) that fills the recipient role for this "
        "notice; None if none does (then the decision is a deny naming why)",
    )
    also_concerned: list[str] = Field(
        default_factory=list,
        description="organisations (directory ids) the notice also names for this role that "
        "were not delivered to: the service of the district the child moved from",
    )
    duties: list[str] = Field(default_factory=list, description=_DUTIES)
    answers: Answer | None = Field(default=None, description=_ANSWERS)
    controller_decision: ControllerDecisionRef | None = Field(
        default=None,
        description="the controller's decision, on a delivery under a basis that requires it",
    )
    confidentiality_imposed: bool = Field(
        default=False, description="the police imposed confidentiality on the recipient's copy"
    )


class Delivery(Strict):
    """What a recipient receives: its redacted copy of the notice and the law that allowed it."""

    delivery_id: str = Field(
        description="deterministic per notice and recipient; reveals nothing of the notice id"
    )
    notice_type: str
    recipient: str
    rule_id: str
    legal_basis: LegalBasisRef
    purpose: str
    purpose_nb: str | None = Field(
        default=None,
        description="the purpose in bokmål, for the people who read the copy; purpose is the "
        "English the audit records use",
    )
    policy_version: str
    fields_withheld: list[str]
    notice: dict[str, object] = Field(description="the redacted copy: released fields only")
    fields_transformed: dict[str, str] = Field(
        default_factory=dict,
        description="path -> operator for released values that were masked, generalised or "
        "pseudonymised (pseudonyms are keyed per recipient)",
    )
    organisation: str | None = Field(
        default=None, description="the organisation (directory id) this copy is for"
    )
    confidentiality: Confidentiality | None = Field(
        default=None,
        description="a duty of confidentiality the police imposed on the recipient: shown first",
    )


class AuditEvent(StrEnum):
    decision = "decision"
    dead_letter = "dead-letter"
    worker_state = "worker-state"  # the worker skipped a corrupt record of its own state


class AuditRecord(Strict):
    """One per decision or dead letter. Field names, never values; the child as a keyed hash."""

    record_id: str
    event: AuditEvent
    recorded_at: datetime
    policy_version: str
    notice_id: str | None = Field(description="None if the input had no readable notice id")
    notice_type: str | None
    source: str = Field(description="topic/partition/offset of the input message")
    subject_ref: str | None = Field(description="keyed HMAC of the child's national id")
    recipient: str | None = None
    outcome: Outcome | None = None
    rule_id: str | None = None
    legal_basis: LegalBasisRef | None = None
    reasons: list[str] = Field(default_factory=list)
    fields_kept: list[str] = Field(default_factory=list)
    fields_withheld: list[str] = Field(default_factory=list)
    fields_transformed: dict[str, str] = Field(
        default_factory=dict, description="released path -> operator"
    )
    delivery_id: str | None = None
    delivery_topic: str | None = None
    delivery_sha256: str | None = Field(
        default=None, description="SHA-256 of the sealed delivery (ciphertext), never of plaintext"
    )
    input_sha256: str | None = Field(default=None, description="hash of the input bytes")
    review_required: bool = Field(
        default=False, description="an urgent disclosure that must be reviewed afterwards"
    )
    organisation: str | None = Field(
        default=None, description="the organisation (directory id) the decision concerns"
    )
    publisher: str | None = Field(
        default=None,
        description="the organisation that published the notice (directory.yaml), for decisions",
    )
    also_concerned: list[str] = Field(
        default_factory=list,
        description="organisations (directory ids) the notice also names for this role that "
        "were not delivered to: the service of the district the child moved from",
    )
    duties: list[str] = Field(default_factory=list, description=_DUTIES)
    answers: Answer | None = Field(default=None, description=_ANSWERS)
    controller_decision: ControllerDecisionRef | None = Field(
        default=None,
        description="the controller's written decision the disclosure was made under, for a "
        "delivery under a basis that requires one (older records: None)",
    )
    confidentiality_imposed: bool = Field(
        default=False,
        description="the police imposed confidentiality on the recipient (prl § 35 second "
        "paragraph); its copy carries the duty",
    )


class Problem(Strict):
    field: str
    reason: str


class SealedCopy(Strict):
    """An input kept for an operator, encrypted under a data key of its own that retention
    purges (broker.core.crypto.sealing.seal_copy): once the key is gone, so is the copy."""

    alg: Literal["A256GCM"] = "A256GCM"
    data_key_id: str = Field(description="the data-key store's id for this copy's key")
    nonce: str
    ciphertext: str = Field(description="AES-256-GCM of the input's headers and value, base64url")


class DeadLetter(Strict):
    """An input that was not decided: where it was, what was wrong, and at most a sealed copy.
    Never the input in clear: an input that arrived unsealed is referred to, not copied."""

    dead_letter_id: str
    recorded_at: datetime
    source: str = Field(description="topic/partition/offset of the input message")
    input_sha256: str
    input_bytes: int = Field(ge=0)
    code: str
    problems: list[Problem]
    sealed_copy: SealedCopy | None = Field(
        default=None, description="None: a reference only (unsealed, unreadable or too large)"
    )


# --- the worker's own progress (a compacted topic only the worker may write) -----------------


class PartitionFloor(Strict):
    """Inputs of ``topic``/``partition`` below ``next_offset`` are decided and committed."""

    kind: Literal["floor"] = "floor"
    topic: str
    partition: int = Field(ge=0)
    next_offset: int = Field(ge=0)


class ReplayClaim(Strict):
    """A notice id accepted at ``position``: the replay guard refuses it anywhere else until
    ``forget_after``."""

    kind: Literal["claim"] = "claim"
    notice_id: str = Field(min_length=1, max_length=200)
    position: str
    forget_after: datetime


ProgressRecord = Annotated[PartitionFloor | ReplayClaim, Field(discriminator="kind")]
