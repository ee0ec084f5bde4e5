"""The policy set: legal bases, recipients and rules, as loaded from policies/."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from broker.models import LegalBasisRef


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


class Rule(_Policy):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    sender: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    notice_type: str
    recipient: str
    legal_basis: str
    purpose: str = Field(min_length=1)
    condition: str = Field(default="true", description="a CEL expression over notice, child_age")
    fields: list[str] = Field(min_length=1, description="field paths released to the recipient")


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

    def rules_for(self, sender: str, notice_type: str, recipient: str) -> tuple[Rule, ...]:
        return self.index.get((sender, notice_type, recipient), ())
