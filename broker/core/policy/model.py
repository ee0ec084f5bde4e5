"""The policy set: legal bases, recipients and rules, as loaded from policies/."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    field_validator,
    model_validator,
)

from broker.core.records import LegalBasisRef
from broker.core.redaction import FieldOp, Plan, parse_op


class _Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Verified(StrEnum):
    confirmed = "confirmed"  # content and section checked against the statute text
    content_only = "content-only"  # content confirmed, section number not
    unverified = "unverified"


class Requirement(StrEnum):
    necessity = "necessity"  # the notice must state the police's necessity assessment
    consent = "consent"  # the notice must carry a consent reference


class LegalBasis(_Policy):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    statute: str = Field(min_length=1)
    section: str = Field(min_length=1)
    summary: str = Field(min_length=1)
    # whether the basis lets anything be released: a duty of confidentiality (prl § 23, fvl § 13)
    # or a duty to cooperate (bvl § 15-8) does not, so no allow rule may cite it
    permits_disclosure: StrictBool
    conditions: str = ""
    verified: Verified
    discretionary: bool = False
    requires: list[Requirement] = Field(default_factory=list)
    valid_from: str | None = None  # statutes get renumbered (the 2025 Public Administration Act)

    def ref(self) -> LegalBasisRef:
        return LegalBasisRef(
            id=self.id, statute=self.statute, section=self.section, verified=self.verified.value
        )


class Recipient(_Policy):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str = Field(min_length=1)
    agency: str = Field(min_length=1)
    topic: str = Field(pattern=r"^[a-zA-Z0-9._-]+$", description="delivery topic (before prefix)")
    description: str = ""


class Effect(StrEnum):
    allow = "allow"
    deny = "deny"  # overrides every allow for the same (sender, notice type, recipient)


class Rule(_Policy):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)
    _plan: Plan = PrivateAttr()

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    effect: Effect = Effect.allow
    sender: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    notice_type: str
    recipient: str
    legal_basis: str
    purpose: str = Field(min_length=1)
    condition: str = Field(default="true", description="a CEL expression over notice, child_age")
    urgent: bool = Field(
        default=False,
        description="applies only to notices flagged danger_to_life_or_health; each disclosure "
        "is marked for mandatory review afterwards",
    )
    fields: dict[str, FieldOp] = Field(
        default_factory=dict,
        description="path -> operator (keep, drop, mask, generalise, pseudonymise); a plain "
        "list of paths means keep each",
    )

    @field_validator("fields", mode="before")
    @classmethod
    def _parse_fields(cls, value: Any) -> Any:
        if isinstance(value, list):
            value = dict.fromkeys(value, "keep")
        if not isinstance(value, dict):
            raise ValueError("must map field paths to operators (or list paths to keep)")
        out: dict[str, FieldOp] = {}
        for path, op in value.items():
            try:
                out[str(path)] = op if isinstance(op, FieldOp) else parse_op(str(op))
            except ValueError as exc:
                raise ValueError(f"'{path}': {exc}") from None
        return out

    @model_validator(mode="after")
    def _fields_match_effect(self) -> Rule:
        if self.effect is Effect.allow and not self.fields:
            raise ValueError("an allow rule must release at least one field")
        if self.effect is Effect.deny and self.fields:
            raise ValueError("a deny rule releases nothing: remove 'fields'")
        return self

    def model_post_init(self, context: Any, /) -> None:
        self._plan = Plan.of(self.fields)  # compiled once: rules are frozen

    @property
    def plan(self) -> Plan:
        return self._plan


@dataclass(frozen=True)
class PolicySet:
    """A validated policy set. ``version`` is a content hash of every policy file."""

    version: str
    legal_bases: dict[str, LegalBasis]
    recipients: dict[str, Recipient]
    rules: tuple[Rule, ...]
    # compiled CEL programs by rule id: compile once, evaluate many
    programs: dict[str, Any] = field(repr=False, compare=False)
    # rules by (sender, notice type, recipient), in file order
    index: dict[tuple[str, str, str], tuple[Rule, ...]] = field(repr=False, compare=False)
    # per notice type: what of a notice the conditions read (see broker.core.policy.view)
    views: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    directory: str = ""

    def rules_for(self, sender: str, notice_type: str, recipient: str) -> tuple[Rule, ...]:
        return self.index.get((sender, notice_type, recipient), ())
