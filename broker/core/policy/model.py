"""The policy set: legal bases, recipients and rules, as loaded from policies/."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    field_validator,
    model_validator,
)

from broker.core.i18n import LANGUAGES
from broker.core.records import LegalBasisRef
from broker.core.redaction import FieldOp, Plan, parse_op

if TYPE_CHECKING:  # duties.py reads this module's bases and recipients
    from broker.core.policy.duties import Duty


class _Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_BOTH = "write the text in both languages: {nb: …, en: …}"


class TextError(ValueError):
    """A policy text not written in both languages: said as it stands (see ``said``)."""


def said(error: Mapping[str, Any]) -> str:
    """A validation error's message as a policy problem: a TextError's without pydantic's
    'Value error, ' before it (it already says what to write), any other as pydantic says it."""
    cause = (error.get("ctx") or {}).get("error")
    return str(cause) if isinstance(cause, TextError) else str(error["msg"])


Line = Annotated[str, Field(min_length=1, max_length=300, pattern=r"^[^\n]+$")]


class PolicyText(_Policy):
    """A text of the policies that people read, written by the lawyers in both languages."""

    nb: str = Field(min_length=1, description="bokmål")
    en: str = Field(min_length=1, description="English")

    @model_validator(mode="before")
    @classmethod
    def _both_languages(cls, value: Any) -> Any:
        """A plain string, or a mapping without one of the languages, is refused naming what
        is needed: pydantic's own words ('a valid dictionary', 'Field required') would not."""
        if isinstance(value, PolicyText):  # another kind's constraints are checked again
            return value if isinstance(value, cls) else value.model_dump()
        if not isinstance(value, Mapping):
            raise TextError(_BOTH)
        missing = [lang for lang in LANGUAGES if lang not in value]
        if missing:
            raise TextError(f"{_BOTH}; {' and '.join(missing)} is missing")
        return value

    def of(self, lang: str) -> str:
        """The text in the reader's language: bokmål for "nb", English for anything else."""
        return self.nb if lang == "nb" else self.en

    def __str__(self) -> str:
        return self.en  # the stable form records carry


class PolicyLine(PolicyText):
    """A policy text of one line, at most 300 characters in each language."""

    nb: Line = Field(description="bokmål")
    en: Line = Field(description="English")


def text_of(text: PolicyText | None, lang: str) -> str:
    """An optional policy text in the reader's language; "" when there is none."""
    return "" if text is None else text.of(lang)


class Status(StrEnum):
    """How far a citation is established (shared/legal-bases.md defines the words)."""

    confirmed = "confirmed"  # section and content read in the statute text
    guidance = "guidance"  # from a preparatory work or an official guideline
    inferred = "inferred"  # our reading, for a lawyer to confirm


class Requirement(StrEnum):
    necessity = "necessity"  # the notice must state the police's necessity assessment
    consent = "consent"  # the notice must carry a consent reference
    # the controller's written decision, dated no later than the notice (prl § 27 fifth
    # paragraph; prl § 30 with prf §§ 11-2 to 11-4)
    controller_decision = "controller-decision"


class Commencement(StrEnum):
    pending = "pending"  # passed, no commencement date set: never in force until one is


_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth")


class Statute(_Policy):
    name: str = Field(min_length=1)
    id: str = Field(pattern=r"^(LOV|FOR)-\d{4}-\d{2}-\d{2}(-\d+)?$", description="Lovdata id")

    @property
    def page(self) -> str:
        """The statute's page on lovdata.no, which a basis' source must be."""
        kind, _, rest = self.id.partition("-")
        return "https://lovdata.no/dokument/" + (
            f"NL/lov/{rest}" if kind == "LOV" else f"SF/forskrift/{rest}"
        )

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"


class LegalBasis(_Policy):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    statute: Statute
    section: str = Field(pattern=r"^(§§? |art\. )\S", description="'§ 27' or 'art. 6'")
    paragraph: int | None = Field(default=None, ge=1, le=len(_ORDINALS), description="ledd")
    number: int | None = Field(default=None, ge=1, description="nr.")
    letter: str | None = Field(default=None, pattern=r"^[a-zæøå]$", description="bokstav")
    summary: PolicyLine
    source: str = Field(pattern=r"^https://lovdata\.no/")
    status: Status
    # whether the basis lets anything be released: a duty of confidentiality (prl § 23, fvl § 13)
    # or a duty to cooperate (bvl § 15-8) does not, so no allow rule may cite it
    permits_disclosure: StrictBool
    conditions: PolicyText | None = None
    discretionary: bool = False
    requires: list[Requirement] = Field(default_factory=list)
    # in force from valid_from (inclusive) to valid_to (exclusive); statutes get renumbered
    valid_from: date | None = None
    valid_to: date | None = None
    commencement: Commencement | None = None
    successor: str | None = None  # the basis that replaces this one (a basis id)
    # the fields a disclosure under this basis may hold, where the law limits its content
    # (bvl § 13-3: the status, not the case); None: the catalogue sets no limit
    covers: list[str] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> LegalBasis:
        if self.commencement is Commencement.pending and self.valid_from is not None:
            raise ValueError("commencement: pending and valid_from exclude each other")
        if self.valid_from and self.valid_to and self.valid_to <= self.valid_from:
            raise ValueError("valid_to must be after valid_from (valid_to is exclusive)")
        page = self.statute.page
        if not (self.source == page or self.source.startswith((page + "/", page + "#"))):
            raise ValueError(f"source must be the page of {self.statute.id}: {page}")
        if self.successor == self.id:
            raise ValueError("successor: a basis cannot succeed itself")
        return self

    @property
    def citation(self) -> str:
        """'§ 34 first paragraph letter m', '§ 24 nr. 1': as a lawyer would cite it."""
        parts = [self.section]
        if self.paragraph is not None:
            parts.append(f"{_ORDINALS[self.paragraph - 1]} paragraph")
        if self.number is not None:
            parts.append(f"nr. {self.number}")
        if self.letter is not None:
            parts.append(f"letter {self.letter}")
        return " ".join(parts)

    def in_force(self, day: date) -> bool:
        """Whether the basis is in force on ``day`` (the caller's date: no clock here)."""
        if self.commencement is Commencement.pending:
            return False
        if self.valid_from is not None and day < self.valid_from:
            return False
        return self.valid_to is None or day < self.valid_to

    def ref(self) -> LegalBasisRef:
        return LegalBasisRef(
            id=self.id,
            statute=str(self.statute),
            citation=self.citation,
            status=self.status.value,
            source=self.source,
        )


def basis_in_force(bases: Mapping[str, LegalBasis], basis_id: str, day: date) -> LegalBasis | None:
    """Of a basis and its successors, the one in force on ``day``; None if none is (or the id
    is unknown). The old one until its successor's commencement date, the successor after."""
    seen: set[str] = set()
    basis = bases.get(basis_id)
    while basis is not None and basis.id not in seen:
        if basis.in_force(day):
            return basis
        seen.add(basis.id)
        basis = bases.get(basis.successor) if basis.successor else None
    return None


class QuestionStatus(StrEnum):
    open = "open"
    answered = "answered"


class OpenQuestion(_Policy):
    """A legal question a lawyer must still decide, and what it concerns."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    question: PolicyText
    bases: list[str] = Field(default_factory=list, description="legal basis ids")
    rules: list[str] = Field(default_factory=list, description="rule ids")
    status: QuestionStatus
    answer: PolicyText | None = None

    @model_validator(mode="after")
    def _consistent(self) -> OpenQuestion:
        if not self.bases and not self.rules:
            raise ValueError("name the bases or rules the question concerns")
        if (self.status is QuestionStatus.answered) != bool(self.answer):
            raise ValueError("an answered question needs an answer, an open one none")
        return self


class Tolerated(StrEnum):
    """Operators an invariant may declare harmless for its fields: the copy then holds a
    pseudonym, a band or a masked value, not the value in clear. keep always counts."""

    mask = "mask"
    generalise = "generalise"
    pseudonymise = "pseudonymise"


class NeverReceives(_Policy):
    """A recipient role receives none of these fields (nor anything beneath them)."""

    kind: Literal["never-receives"]
    recipient: str
    fields: list[str] = Field(min_length=1)
    tolerates: list[Tolerated] = Field(default_factory=list)
    # rules whose basis requires one of these (e.g. consent) are the stated exception
    unless_basis_requires: list[Requirement] = Field(default_factory=list)


class NeverLeaves(_Policy):
    """No recipient receives these fields (nor anything beneath them)."""

    kind: Literal["never-leaves"]
    fields: list[str] = Field(min_length=1)
    tolerates: list[Tolerated] = Field(default_factory=list)


class BasisPermitsDisclosure(_Policy):
    """No allow rule cites a basis with permits_disclosure: false."""

    kind: Literal["basis-permits-disclosure"]


class DiscretionaryRequiresDecision(_Policy):
    """No allow rule cites a discretionary basis that does not require the controller's
    decision."""

    kind: Literal["discretionary-requires-decision"]


class BasisCoversFields(_Policy):
    """No allow rule releases a field outside what its basis covers (bases with ``covers``)."""

    kind: Literal["basis-covers-fields"]


InvariantCheck = Annotated[
    NeverReceives
    | NeverLeaves
    | BasisPermitsDisclosure
    | DiscretionaryRequiresDecision
    | BasisCoversFields,
    Field(discriminator="kind"),
]


class Invariant(_Policy):
    """A statement about every rule, in words and in a machine form proved over the rules."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    statement: PolicyLine
    check: InvariantCheck


class Recipient(_Policy):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: PolicyText
    agency: str = Field(min_length=1, description="a proper name, the same in both languages")
    topic: str = Field(pattern=r"^[a-zA-Z0-9._-]+$", description="delivery topic (before prefix)")
    description: PolicyText | None = None
    # a municipal body: the police may impose confidentiality on it (prl § 35 second paragraph)
    municipal: StrictBool = False


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
    purpose: PolicyText
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


class Subjects(_Policy):
    """Whom notices may be about. A subject 18 or older on the day a notice was issued is not
    a child: every recipient is refused (not-a-child) before any rule is tried, except for the
    notice types listed here."""

    adults_decided_for: list[str] = Field(
        default_factory=list, description="notice types decided even for an adult subject"
    )


class ConfidentialityText(PolicyText):
    nb: str = Field(min_length=1, max_length=600, description="bokmål")
    en: str = Field(min_length=1, max_length=600, description="English")


class ImposedConfidentiality(_Policy):
    """What a municipal recipient's copy says when the police impose confidentiality."""

    legal_basis: str = Field(description="the basis the duty is imposed under (a basis id)")
    text: ConfidentialityText

    @property
    def copy_text(self) -> str:
        """The text a delivered copy carries: the bokmål, then the English, in one string
        (what the copies have always carried; the recipient's staff read the one they read)."""
        return f"{self.text.nb} {self.text.en}"


@dataclass(frozen=True)
class PolicySet:
    """A validated policy set. ``version`` is a content hash of every policy file."""

    version: str
    legal_bases: dict[str, LegalBasis]
    recipients: dict[str, Recipient]
    rules: tuple[Rule, ...]
    open_questions: tuple[OpenQuestion, ...]
    invariants: tuple[Invariant, ...]
    duties: tuple[Duty, ...]  # policies/duties.yaml: what a disclosure obliges (in file order)
    # compiled CEL programs by rule id: compile once, evaluate many
    programs: dict[str, Any] = field(repr=False, compare=False)
    # rules by (sender, notice type, recipient), in file order
    index: dict[tuple[str, str, str], tuple[Rule, ...]] = field(repr=False, compare=False)
    # per notice type: what of a notice the conditions read (see broker.core.policy.view)
    views: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    directory: str = ""
    subjects: Subjects = field(default_factory=Subjects)
    imposed_confidentiality: ImposedConfidentiality | None = None

    def rules_for(self, sender: str, notice_type: str, recipient: str) -> tuple[Rule, ...]:
        return self.index.get((sender, notice_type, recipient), ())
