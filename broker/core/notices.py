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
from typing import Literal
from uuid import UUID

from pydantic import Field, model_validator

from broker.core import national_id
from broker.core.notice_parts import (
    Child,
    ConfidentialityImposed,
    Consent,
    ContactPerson,
    ControllerDecision,
    Guardian,
    Intelligence,
    IssuingUnit,
    NationalId,
    ShortText,
    Strict,
    Text,
    label,
)


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

    name: ShortText = Field(
        description="the person's name", json_schema_extra=label("navn", "name")
    )
    role: ShortText = Field(
        description="e.g. 'co-suspect', 'victim', 'recruiter'",
        json_schema_extra=label("rolle", "role"),
    )
    age: int | None = Field(
        default=None,
        ge=0,
        le=120,
        description="the person's age in years",
        json_schema_extra=label("alder", "age"),
    )


class Incident(Strict):
    occurred_at: datetime = Field(
        description="when the incident happened",
        json_schema_extra=label("når hendelsen skjedde", "when it happened"),
    )
    location: ShortText = Field(
        description="where the incident happened",
        json_schema_extra=label("hvor hendelsen skjedde", "where it happened"),
    )
    category: IncidentCategory = Field(
        description="what kind of incident it was",
        json_schema_extra=label("hva slags hendelse", "kind of incident"),
    )
    child_role: ChildRole = Field(
        description="the child's part in it: suspect, victim or witness",
        json_schema_extra=label("barnets rolle i saken", "child's role"),
    )
    summary: Text = Field(
        description="what happened, in the police's words",
        json_schema_extra=label("beskrivelse av hendelsen", "account of the incident"),
    )
    co_involved: list[InvolvedPerson] = Field(
        default_factory=list,
        max_length=50,
        description="others involved in the incident; police-internal",
        json_schema_extra=label("andre involverte", "others involved"),
    )
    investigation_opened: date | None = Field(
        default=None,
        description="the day the police opened an investigation against the child; for a "
        "suspect under 18 the police must notify child welfare at once (prf § 10-2)",
        json_schema_extra=label("når etterforskning ble åpnet", "investigation opened"),
    )


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


class ThreatenedRole(StrEnum):
    staff = "staff"
    pupil = "pupil"
    guardian = "guardian"
    other = "other"


class ThreatenedPerson(Strict):
    """Someone the risk assessment says is threatened, so that those who must protect them
    know who, and by whom."""

    name: ShortText = Field(
        description="the threatened person's name", json_schema_extra=label("navn", "name")
    )
    role: ThreatenedRole = Field(
        description="staff: a member of the school's staff",
        json_schema_extra=label("rolle", "role"),
    )
    threatened_by: ShortText | None = Field(
        default=None,
        description="who threatens them (the child, or someone else)",
        json_schema_extra=label("truet av", "threatened by"),
    )


class Service(StrEnum):
    """A service a recommended measure is for (the recipient roles of policies/recipients.yaml
    that act on a safety plan)."""

    school = "school"
    child_welfare = "child-welfare"
    barnevernvakta = "barnevernvakta"
    salto = "salto"
    youth_club = "youth-club"
    police = "police"


class RiskAssessment(Strict):
    level: RiskLevel = Field(
        description="how high the police assess the risk",
        json_schema_extra=label("risikonivå", "risk level"),
    )
    at_risk: list[AtRisk] = Field(
        min_length=1,
        description="who is at risk",
        json_schema_extra=label("hvem som er utsatt", "who is at risk"),
    )
    indicators: list[ShortText] = Field(
        default_factory=list,
        max_length=30,
        description="e.g. 'social-media-recruitment', 'paid-violence', 'weapon-access'",
        json_schema_extra=label("hva vurderingen bygger på", "risk indicators"),
    )
    summary: Text = Field(
        description="the police's risk assessment in words",
        json_schema_extra=label("politiets risikovurdering", "police risk assessment"),
    )
    recommended_measures: list[ShortText] = Field(
        default_factory=list,
        max_length=30,
        description="measures the police recommend",
        json_schema_extra=label("anbefalte tiltak", "recommended measures"),
    )
    measures_for: list[Service] = Field(
        default_factory=list,
        max_length=6,
        description="the services the recommended measures are for (a safety plan naming "
        "the school gives the school the measures and the police contact)",
        json_schema_extra=label(
            "hvilke tjenester tiltakene gjelder", "services the measures are for"
        ),
    )
    valid_until: date = Field(
        description="the last day the assessment holds",
        json_schema_extra=label("vurderingen gjelder til", "valid until"),
    )
    threatened: list[ThreatenedPerson] = Field(
        default_factory=list,
        max_length=20,
        description="who is threatened, and by whom",
        json_schema_extra=label("hvem som er truet, og av hvem", "who is threatened, by whom"),
    )
    family_risk: Text | None = Field(
        default=None,
        description="what the risk to the family is, when the family is at risk",
        json_schema_extra=label("risikoen for familien", "risk to the family"),
    )
    co_involved: list[InvolvedPerson] = Field(
        default_factory=list,
        max_length=50,
        description="others involved in the risk (recruiters, an older network); police-internal",
        json_schema_extra=label("andre involverte", "others involved"),
    )


# --- notices ---------------------------------------------------------------------------------

# Fields every sender's notice has, labelled once (pydantic copies a FieldInfo per model).
NOTICE_ID = Field(
    description="the notice's id (a UUID), its reference",
    json_schema_extra=label("meldingens referansenummer", "notice reference"),
)
NOTICE_TYPE = "what kind of notice it is"
NOTICE_TYPE_LABEL = label("hva slags melding", "kind of notice")
ISSUED_AT = Field(
    description="when the sender issued the notice",
    json_schema_extra=label("når meldingen ble sendt", "when it was sent"),
)
ISSUER = Field(
    description="the unit that sent the notice",
    json_schema_extra=label("enheten som sendte meldingen", "sending unit"),
)
CONTACT = Field(
    description="the sender's contact for follow-up",
    json_schema_extra=label("kontaktperson hos avsenderen", "sender's contact person"),
)
CHILD = Field(
    description="the child the notice is about",
    json_schema_extra=label("opplysninger om barnet", "about the child"),
)
GUARDIANS: list[Guardian] = Field(
    default_factory=list,
    max_length=10,
    description="the child's guardians",
    json_schema_extra=label("de foresatte", "guardians"),
)
NECESSITY = Field(
    default=None,
    description="the sender's necessity and proportionality assessment; required by "
    "discretionary legal bases",
    json_schema_extra=label("vurderingen av hvorfor det var nødvendig å dele", "necessity"),
)
CONSENT = Field(
    default=None,
    description="a reference to recorded consent",
    json_schema_extra=label("samtykket som ble gitt", "consent"),
)
RISK = "the police's risk assessment"
RISK_LABEL = label("risikovurderingen", "risk assessment")


class NoticeBase(Strict):
    notice_id: UUID = NOTICE_ID
    issued_at: datetime = ISSUED_AT
    issuer: IssuingUnit = ISSUER
    contact: ContactPerson = CONTACT
    child: Child = CHILD
    guardians: list[Guardian] = GUARDIANS
    purpose: Text = Field(
        description="why the police share this notice",
        json_schema_extra=label("formålet med meldingen", "purpose of the notice"),
    )
    necessity: Text | None = NECESSITY
    consent: Consent | None = CONSENT
    controller_decision: ControllerDecision | None = Field(
        default=None,
        description="the written decision a discretionary legal basis requires",
        json_schema_extra=label("vedtaket om å dele", "decision to disclose"),
    )
    intelligence: Intelligence | None = Field(
        default=None,
        description="police-internal information no rule releases",
        json_schema_extra=label("etterretningsopplysninger", "intelligence"),
    )
    danger_to_life_or_health: bool = Field(
        default=False,
        description="urgent: sharing is needed to avert danger to life or health; disclosures "
        "under urgent rules are marked for mandatory review afterwards",
        json_schema_extra=label("fare for liv eller helse", "danger to life or health"),
    )
    imminent_offence: bool = Field(
        default=False,
        description="the police hold concrete, credible information that an offence is about "
        "to be committed (prf § 9-2): disclosure to avert it (prl § 27 first paragraph)",
        json_schema_extra=label("straffbar handling som kan skje snart", "imminent offence"),
    )
    confidentiality_imposed: ConfidentialityImposed | None = Field(
        default=None,
        description="the police impose confidentiality on municipal recipients (prl § 35 "
        "second paragraph); their copies carry the duty",
        json_schema_extra=label("pålagt taushetsplikt", "confidentiality imposed"),
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

    notice_type: Literal["incident"] = Field(
        default="incident", description=NOTICE_TYPE, json_schema_extra=NOTICE_TYPE_LABEL
    )
    incident: Incident = Field(
        description="the incident", json_schema_extra=label("hendelsen", "the incident")
    )
    risk: RiskAssessment | None = Field(
        default=None, description=RISK, json_schema_extra=RISK_LABEL
    )


class RiskNotice(NoticeBase):
    """A risk assessment covering the child, family, school and staff."""

    notice_type: Literal["risk"] = Field(
        default="risk", description=NOTICE_TYPE, json_schema_extra=NOTICE_TYPE_LABEL
    )
    risk: RiskAssessment = Field(description=RISK, json_schema_extra=RISK_LABEL)


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


DutyGround = Literal["a", "b", "c", "d"]


class Concern(Strict):
    """What the school observed (a bekymringsmelding): the child welfare service assesses it."""

    observed_at: date = Field(
        description="when the school observed what it reports",
        json_schema_extra=label("når skolen gjorde observasjonene", "when it was observed"),
    )
    categories: list[ConcernCategory] = Field(
        min_length=1,
        max_length=8,
        description="what the concern is about",
        json_schema_extra=label("hva bekymringen gjelder", "what the concern is about"),
    )
    description: Text = Field(
        description="the school's account of the concern",
        json_schema_extra=label("skolens beskrivelse", "the school's account"),
    )
    actions_taken: list[ShortText] = Field(
        default_factory=list,
        max_length=20,
        description="what the school has done so far",
        json_schema_extra=label("hva skolen har gjort", "what the school has done"),
    )
    guardians_informed: bool = Field(
        description="whether the guardians know of the report",
        json_schema_extra=label("om de foresatte er orientert", "guardians informed"),
    )
    duty_grounds: list[DutyGround] = Field(
        default_factory=list,
        max_length=4,
        description="which of opplæringslova § 24-3 first paragraph a-d the school believes "
        "met: a) reason to believe a child is abused or seriously neglected; b) a child has "
        "an untreated life-threatening or serious illness; c) a disabled child's or a child "
        "with special needs' needs are not met; d) the child has shown serious behavioural "
        "problems (serious or repeated offences, problematic drug use, other harmful acts). "
        "Empty: below the thresholds, consent needed",
        json_schema_extra=label("vilkår for meldeplikten", "grounds of the duty to report"),
    )


class ConcernReport(Strict):
    """A school's concern report (bekymringsmelding) to child welfare."""

    notice_id: UUID = NOTICE_ID
    notice_type: Literal["concern-report"] = Field(
        default="concern-report", description=NOTICE_TYPE, json_schema_extra=NOTICE_TYPE_LABEL
    )
    issued_at: datetime = ISSUED_AT
    issuer: IssuingUnit = ISSUER
    contact: ContactPerson = CONTACT
    child: Child = CHILD
    guardians: list[Guardian] = GUARDIANS
    purpose: Text = Field(
        description="why the school reports",
        json_schema_extra=label("formålet med meldingen", "purpose of the notice"),
    )
    necessity: Text | None = NECESSITY
    consent: Consent | None = CONSENT
    concern: Concern = Field(
        description="what the school is concerned about",
        json_schema_extra=label("skolens bekymring", "the school's concern"),
    )
    danger_to_life_or_health: bool = Field(
        default=False,
        description="urgent: danger to the child's life or health",
        json_schema_extra=label("fare for liv eller helse", "danger to life or health"),
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

    national_id: NationalId = Field(
        description="the child's national identity number (11 digits)",
        json_schema_extra=label("barnets fødselsnummer", "child's national id number"),
    )
    name: ShortText | None = Field(
        default=None,
        description="the child's name",
        json_schema_extra=label("barnets navn", "child's name"),
    )


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

    notice_id: UUID = NOTICE_ID
    notice_type: Literal["concern-feedback"] = Field(
        default="concern-feedback", description=NOTICE_TYPE, json_schema_extra=NOTICE_TYPE_LABEL
    )
    issued_at: datetime = ISSUED_AT
    issuer: IssuingUnit = ISSUER
    contact: ContactPerson = CONTACT
    child: ChildRef = CHILD
    concern_ref: UUID = Field(
        description="notice id of the concern report this answers",
        json_schema_extra=label("bekymringsmeldingen svaret gjelder", "concern report answered"),
    )
    status: FeedbackStatus = Field(
        description="where child welfare is with the case (barnevernsloven § 13-3)",
        json_schema_extra=label("hvor langt barnevernet er kommet", "status of the case"),
    )
    status_since: date = Field(
        description="the day the status began",
        json_schema_extra=label("status fra", "status since"),
    )
    case_notes: Text | None = Field(
        default=None,
        description="child-welfare case content; never for the reporter",
        json_schema_extra=label("barnevernets saksnotater", "case notes"),
    )
    danger_to_life_or_health: bool = Field(
        default=False,
        description="urgent: danger to the child's life or health",
        json_schema_extra=label("fare for liv eller helse", "danger to life or health"),
    )

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
