"""Notices: what senders publish, as pydantic models.

Notices are what senders publish: police incident and risk notices, a school's concern report
to child welfare, child welfare's feedback to the police on a concern report. Every model
forbids unknown fields, so a typo in a publisher's payload is an error instead of silently
unshared data. A notice type's shape is
versioned: the CloudEvents ``type`` names both (``no.oslo.broker.incident-notice.v1``).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from broker.core import national_id

NationalId = Annotated[
    str,
    Field(
        description="Norwegian national identity number (11 digits, mod-11 check digits); "
        "D-numbers and synthetic test numbers accepted",
        pattern=r"^\d{11}$",
        json_schema_extra={"x-personal-data": "identifier"},
    ),
    AfterValidator(national_id.validate),
]
Text = Annotated[str, Field(min_length=1, max_length=4000)]
ShortText = Annotated[str, Field(min_length=1, max_length=200)]
Phone = Annotated[str, Field(pattern=r"^\+?[0-9 ]{8,15}$", description="phone number")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


# --- parts of a notice -----------------------------------------------------------------------


class IssuingUnit(Strict):
    """The unit that issued the notice: a police unit, a school, a child welfare service."""

    unit_id: ShortText = Field(description="stable id of the unit, e.g. 'oslo-pd-east'")
    unit_name: ShortText


class ContactPerson(Strict):
    """The sender's named contact for follow-up (for police notices: the municipal services
    asked for one)."""

    name: ShortText
    role: ShortText = Field(description="e.g. 'forebyggende politibetjent'")
    phone: Phone


class School(Strict):
    school_id: ShortText = Field(description="the school's organisation number or local id")
    name: ShortText


class Child(Strict):
    """The child the notice is about (the data subject)."""

    national_id: NationalId
    name: ShortText
    birth_date: date
    address: ShortText | None = None
    district: ShortText = Field(description="Oslo district (bydel), e.g. 'Grorud'")
    # Checked against the directory when routed, like district, not here: a name it does not
    # list (a typo, a municipality outside Oslo) must not cost the current district its copy.
    previous_district: ShortText | None = Field(
        default=None,
        description="the Oslo district (bydel) the child moved from, whose child welfare "
        "service may hold an open case; it receives nothing by being named, but the decision "
        "and the audit record name it",
    )
    school: School | None = None

    @model_validator(mode="after")
    def _birth_date_matches_national_id(self) -> Child:
        if national_id.birth_date_of(self.national_id) != self.birth_date:
            raise ValueError("birth_date does not match the national id number")
        return self

    @model_validator(mode="after")
    def _moved_from_another_district(self) -> Child:
        moved_from = self.previous_district
        if moved_from is not None and moved_from.casefold() == self.district.casefold():
            raise ValueError("previous_district must differ from district")
        return self


class Guardian(Strict):
    name: ShortText
    relation: ShortText = Field(description="e.g. 'mother', 'father', 'foster parent'")
    phone: Phone | None = None
    address: ShortText | None = None


class ChildRole(StrEnum):
    suspect = "suspect"
    victim = "victim"
    witness = "witness"


class IncidentCategory(StrEnum):
    assault = "assault"
    robbery = "robbery"
    threat = "threat"
    weapons = "weapons"
    violence_for_hire = "violence-for-hire"
    other = "other"


class InvolvedPerson(Strict):
    """Someone else involved in the incident. Police-internal: no rule should release it lightly."""

    name: ShortText
    role: ShortText = Field(description="e.g. 'co-suspect', 'victim', 'recruiter'")
    age: int | None = Field(default=None, ge=0, le=120)


class Incident(Strict):
    occurred_at: datetime
    location: ShortText
    category: IncidentCategory
    child_role: ChildRole
    summary: Text
    co_involved: list[InvolvedPerson] = Field(default_factory=list, max_length=50)


class RiskLevel(StrEnum):
    low = "low"
    moderate = "moderate"
    high = "high"
    critical = "critical"


class AtRisk(StrEnum):
    child = "child"
    family = "family"
    school = "school"
    staff = "staff"


class RiskAssessment(Strict):
    level: RiskLevel
    at_risk: list[AtRisk] = Field(min_length=1, description="who is at risk")
    indicators: list[ShortText] = Field(
        default_factory=list,
        max_length=30,
        description="e.g. 'social-media-recruitment', 'paid-violence', 'weapon-access'",
    )
    summary: Text
    recommended_measures: list[ShortText] = Field(default_factory=list, max_length=30)
    valid_until: date


class Intelligence(Strict):
    """Police-internal information that no rule should release: sources, unverified leads."""

    sources: list[ShortText] = Field(default_factory=list)
    unverified: Text | None = None


class Consent(Strict):
    """A reference to recorded consent, where consent is the legal basis."""

    reference: ShortText
    given_by: ShortText = Field(description="who consented, e.g. 'guardian' or 'child'")
    given_at: datetime


# --- notices ---------------------------------------------------------------------------------


class NoticeBase(Strict):
    notice_id: UUID
    issued_at: datetime
    issuer: IssuingUnit
    contact: ContactPerson
    child: Child
    guardians: list[Guardian] = Field(default_factory=list, max_length=10)
    purpose: Text = Field(description="why the police share this notice")
    necessity: Text | None = Field(
        default=None,
        description="the police's necessity and proportionality assessment; required by "
        "discretionary legal bases",
    )
    consent: Consent | None = None
    intelligence: Intelligence | None = None
    danger_to_life_or_health: bool = Field(
        default=False,
        description="urgent: sharing is needed to avert danger to life or health; disclosures "
        "under urgent rules are marked for mandatory review afterwards",
    )

    @model_validator(mode="after")
    def _times_are_aware(self) -> NoticeBase:
        if self.issued_at.tzinfo is None:
            raise ValueError("issued_at must carry a time zone")
        return self

    def child_age(self) -> int:
        """Age in whole years on the day the notice was issued."""
        return national_id.age_on(self.child.birth_date, self.issued_at)


class IncidentNotice(NoticeBase):
    """An incident involving a child as suspect, victim or witness."""

    notice_type: Literal["incident"] = "incident"
    incident: Incident
    risk: RiskAssessment | None = None


class RiskNotice(NoticeBase):
    """A risk assessment covering the child, family, school and staff."""

    notice_type: Literal["risk"] = "risk"
    risk: RiskAssessment


# --- other senders ---------------------------------------------------------------------------


class ConcernCategory(StrEnum):
    neglect = "neglect"
    violence_at_home = "violence-at-home"
    abuse = "abuse"
    substance_use = "substance-use"
    offending = "offending"
    absence = "absence"
    mental_health = "mental-health"
    other = "other"


class Concern(Strict):
    """What the school observed (a bekymringsmelding): the child welfare service assesses it."""

    observed_at: date
    categories: list[ConcernCategory] = Field(min_length=1, max_length=8)
    description: Text
    actions_taken: list[ShortText] = Field(
        default_factory=list, max_length=20, description="what the school has done so far"
    )
    guardians_informed: bool = Field(description="whether the guardians know of the report")


class ConcernReport(Strict):
    """A school's concern report (bekymringsmelding) to child welfare."""

    notice_id: UUID
    notice_type: Literal["concern-report"] = "concern-report"
    issued_at: datetime
    issuer: IssuingUnit
    contact: ContactPerson
    child: Child
    guardians: list[Guardian] = Field(default_factory=list, max_length=10)
    purpose: Text = Field(description="why the school reports")
    necessity: Text | None = None
    consent: Consent | None = None
    concern: Concern
    danger_to_life_or_health: bool = Field(
        default=False, description="urgent: danger to the child's life or health"
    )

    @model_validator(mode="after")
    def _times_are_aware(self) -> ConcernReport:
        if self.issued_at.tzinfo is None:
            raise ValueError("issued_at must carry a time zone")
        return self

    def child_age(self) -> int:
        """Age in whole years on the day the notice was issued."""
        return national_id.age_on(self.child.birth_date, self.issued_at)


class ChildRef(Strict):
    """The child a feedback is about, as the reporter already knows them."""

    national_id: NationalId
    name: ShortText | None = None


class FeedbackStatus(StrEnum):
    """Where child welfare is with a concern report (barnevernsloven § 13-3): received; after
    the review (§ 2-1) investigating or closed; after an investigation, whether the child is
    followed up."""

    received = "received"
    investigating = "investigating"
    closed = "closed"
    followed_up = "followed-up"
    not_followed_up = "not-followed-up"


class ConcernFeedback(Strict):
    """Child welfare's feedback to a public reporter (here the police) on a concern report:
    status only. ``case_notes`` is child welfare's own and no rule may release it."""

    notice_id: UUID
    notice_type: Literal["concern-feedback"] = "concern-feedback"
    issued_at: datetime
    issuer: IssuingUnit
    contact: ContactPerson
    child: ChildRef
    concern_ref: UUID = Field(description="notice id of the concern report this answers")
    status: FeedbackStatus
    status_since: date
    case_notes: Text | None = Field(
        default=None, description="child-welfare case content; never for the reporter"
    )
    danger_to_life_or_health: bool = False

    @model_validator(mode="after")
    def _times_are_aware(self) -> ConcernFeedback:
        if self.issued_at.tzinfo is None:
            raise ValueError("issued_at must carry a time zone")
        return self

    def child_age(self) -> int:
        """Age in whole years on the day the notice was issued."""
        return national_id.age_on(national_id.birth_date_of(self.child.national_id), self.issued_at)


Notice = IncidentNotice | RiskNotice | ConcernReport | ConcernFeedback
NoticeModel = type[IncidentNotice] | type[RiskNotice] | type[ConcernReport] | type[ConcernFeedback]

# (notice type, version) -> model. The CloudEvents type is derived from it.
NOTICE_MODELS: dict[tuple[str, int], NoticeModel] = {
    ("incident", 1): IncidentNotice,
    ("risk", 1): RiskNotice,
    ("concern-report", 1): ConcernReport,
    ("concern-feedback", 1): ConcernFeedback,
}
CE_TYPE_PREFIX = "no.oslo.broker."


def ce_type(notice_type: str, version: int) -> str:
    return f"{CE_TYPE_PREFIX}{notice_type}-notice.v{version}"


# Which sender publishes each notice type. Rules are per (sender, notice type, recipient).
NOTICE_SENDERS: dict[str, str] = {
    "incident": "police",
    "risk": "police",
    "concern-report": "school",
    "concern-feedback": "child-welfare",
}
# The sender classes, from the table above: a publishing unit's key is bound to one of them
# (broker.core.crypto.registry), and each publishes with a Kafka principal of its own
# (broker.core.deployment.acl).
SENDERS: tuple[str, ...] = tuple(sorted(set(NOTICE_SENDERS.values())))


def notice_model(notice_type: str) -> NoticeModel | None:
    """The newest model of a notice type, or None if the type is unknown."""
    versions = [v for t, v in NOTICE_MODELS if t == notice_type]
    return NOTICE_MODELS[(notice_type, max(versions))] if versions else None
