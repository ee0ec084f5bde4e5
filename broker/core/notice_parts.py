"""The parts of a notice that every sender's notice shares: the child, the guardians, the
sender's contact, and what a disclosure may need (consent, the controller's decision, imposed
confidentiality). The notices themselves are in broker.core.notices."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic.config import JsonDict

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
Email = Annotated[
    str, Field(pattern=r"^[^@\s]{1,64}@[^@\s]{1,190}\.[a-z]{2,}$", description="e-mail address")
]


def label(nb: str, en: str) -> JsonDict:
    """A field's name for people, in bokmål and English (pydantic ``json_schema_extra``): the
    reports, the auditor page and the letters show it, and the JSON Schemas carry it as
    ``x-label``. Every field has one, beside a one-line ``description`` (tests check both)."""
    return {"x-label": {"nb": nb, "en": en}}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


# --- parts of a notice -----------------------------------------------------------------------


class IssuingUnit(Strict):
    """The unit that issued the notice: a police unit, a school, a child welfare service."""

    unit_id: ShortText = Field(
        description="stable id of the unit, e.g. 'oslo-pd-east'",
        json_schema_extra=label("enhetens id", "unit id"),
    )
    unit_name: ShortText = Field(
        description="the unit's name", json_schema_extra=label("enhetens navn", "unit name")
    )


class ContactPerson(Strict):
    """The sender's named contact for follow-up (for police notices: the municipal services
    asked for one)."""

    name: ShortText = Field(
        description="the contact's name",
        json_schema_extra=label("kontaktpersonens navn", "contact's name"),
    )
    role: ShortText = Field(
        description="e.g. 'forebyggende politibetjent'",
        json_schema_extra=label("kontaktpersonens rolle", "contact's role"),
    )
    # a named contact may have no phone of their own (a unit's switchboard, an e-mail only)
    phone: Phone | None = Field(
        default=None,
        description="the contact's phone number",
        json_schema_extra=label("kontaktpersonens telefon", "contact's phone"),
    )
    email: Email | None = Field(
        default=None,
        description="the contact's e-mail address",
        json_schema_extra=label("kontaktpersonens e-post", "contact's e-mail"),
    )


class School(Strict):
    school_id: ShortText = Field(
        description="the school's organisation number or local id",
        json_schema_extra=label("skolens id", "school id"),
    )
    name: ShortText = Field(
        description="the school's name", json_schema_extra=label("skolens navn", "school name")
    )


class Child(Strict):
    """The child the notice is about (the data subject)."""

    national_id: NationalId = Field(
        description="the child's national identity number (11 digits)",
        json_schema_extra=label("barnets fødselsnummer", "child's national id number"),
    )
    name: ShortText = Field(
        description="the child's full name", json_schema_extra=label("barnets navn", "child's name")
    )
    birth_date: date = Field(
        description="the child's date of birth (matches the national id number)",
        json_schema_extra=label("barnets fødselsdato", "child's date of birth"),
    )
    address: ShortText | None = Field(
        default=None,
        description="the child's home address",
        json_schema_extra=label("barnets adresse", "child's address"),
    )
    district: ShortText = Field(
        description="Oslo district (bydel), e.g. 'Grorud'",
        json_schema_extra=label("bydelen barnet bor i", "child's district"),
    )
    # Checked against the directory when routed, like district, not here: a name it does not
    # list (a typo, a municipality outside Oslo) must not cost the current district its copy.
    previous_district: ShortText | None = Field(
        default=None,
        description="the Oslo district (bydel) the child moved from, whose child welfare "
        "service may hold an open case; it receives nothing by being named, but the decision "
        "and the audit record name it",
        json_schema_extra=label("bydelen barnet har flyttet fra", "district the child moved from"),
    )
    school: School | None = Field(
        default=None,
        description="the school the child attends",
        json_schema_extra=label("barnets skole", "child's school"),
    )

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
    name: ShortText = Field(
        description="the guardian's name",
        json_schema_extra=label("den foresattes navn", "guardian's name"),
    )
    relation: ShortText = Field(
        description="e.g. 'mother', 'father', 'foster parent'",
        json_schema_extra=label("forhold til barnet", "relation to the child"),
    )
    phone: Phone | None = Field(
        default=None,
        description="the guardian's phone number",
        json_schema_extra=label("den foresattes telefon", "guardian's phone"),
    )
    address: ShortText | None = Field(
        default=None,
        description="the guardian's address",
        json_schema_extra=label("den foresattes adresse", "guardian's address"),
    )


class Intelligence(Strict):
    """Police-internal information that no rule should release: sources, unverified leads."""

    sources: list[ShortText] = Field(
        default_factory=list,
        description="the police's sources",
        json_schema_extra=label("politiets kilder", "police sources"),
    )
    unverified: Text | None = Field(
        default=None,
        description="unverified leads",
        json_schema_extra=label("ubekreftede opplysninger", "unverified information"),
    )


class Consent(Strict):
    """A reference to recorded consent, where consent is the legal basis."""

    reference: ShortText = Field(
        description="the reference of the recorded consent",
        json_schema_extra=label("samtykkets referanse", "consent reference"),
    )
    given_by: ShortText = Field(
        description="who consented, e.g. 'guardian' or 'child'",
        json_schema_extra=label("hvem som samtykket", "who consented"),
    )
    given_at: datetime = Field(
        description="when consent was given",
        json_schema_extra=label("når samtykket ble gitt", "when consent was given"),
    )


class ControllerDecision(Strict):
    """The controller's (or a delegate's) written decision to disclose, which a discretionary
    disclosure needs (prl § 27 fifth paragraph; prl § 30 with prf §§ 11-2 to 11-4). Names the
    official who decided and the written decision, never the child."""

    decided_by: ShortText = Field(
        description="the official's id (e.g. employee number)",
        json_schema_extra=label("hvem som besluttet", "decided by"),
    )
    role: ShortText = Field(
        description="e.g. 'politimester' or 'delegated: seksjonsleder'",
        json_schema_extra=label("beslutningstakerens rolle", "decision-maker's role"),
    )
    decided_at: datetime = Field(
        description="when the decision was made; not after issued_at",
        json_schema_extra=label("når beslutningen ble tatt", "when it was decided"),
    )
    reference: ShortText = Field(
        description="the reference of the written decision",
        json_schema_extra=label("beslutningens referanse", "decision reference"),
    )

    @model_validator(mode="after")
    def _aware(self) -> ControllerDecision:
        if self.decided_at.tzinfo is None:
            raise ValueError("decided_at must carry a time zone")
        return self


class ConfidentialityImposed(Strict):
    """The police impose a duty of confidentiality on a municipal recipient (prl § 35 second
    paragraph): its copy carries the duty."""

    reason: ShortText = Field(
        description="why, in words the recipient understands",
        json_schema_extra=label("begrunnelse for taushetsplikten", "reason for the duty"),
    )
