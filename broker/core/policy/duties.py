"""The duties the law attaches to a disclosure (policies/duties.yaml), and which of them one
decision opens.

An obligation duty opens on a delivered decision that matches its ``opens`` lists; the audit
record names the duty ids (``AuditRecord.duties``) and broker.core.audit.obligations follows
each to the event that closes it. Preconditions and markers are described here so that the
lawyers' report lists every duty in one place; the rules enforce them, not this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from broker.core.errors import PolicyError
from broker.core.notices import NOTICE_SENDERS, FeedbackStatus
from broker.core.policy.model import LegalBasis, PolicyLine, PolicyText, Recipient, Status

INFORMED = "informed"
INFORM_EXCEPTION = "inform-exception"


class _Duty(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DutyKind(StrEnum):
    obligation = "obligation"  # opened by a decision, closed by a later signed event
    precondition = "precondition"  # must hold before a disclosure (the rules enforce it)
    marker = "marker"  # a duty the delivery carries to its recipient


class Holder(StrEnum):
    """Who must act on an obligation."""

    discloser = "discloser"  # the police, who disclosed
    recipient = "recipient"  # the organisation that received the delivery
    publisher = "publisher"  # the organisation that published the notice


class Person(StrEnum):
    """Who is told of a disclosure (politiregisterloven § 48): the child and the guardians."""

    child = "child"
    guardians = "guardians"


class InformHow(StrEnum):
    letter = "letter"
    in_person = "in-person"
    digital_mailbox = "digital-mailbox"


class Opens(_Duty):
    """Delivered decisions that open the duty: every list given must hold the decision's
    value (an omitted list matches anything). A duty lists one or more: any opens it."""

    senders: list[str] = Field(default_factory=list)
    bases: list[str] = Field(default_factory=list)
    notice_types: list[str] = Field(default_factory=list)
    recipients: list[str] = Field(default_factory=list)
    statuses: list[FeedbackStatus] = Field(default_factory=list)


class Closes(_Duty):
    """What closes an obligation: signed inform events covering ``persons``, or a concern
    feedback with one of ``feedback``'s statuses answering the report."""

    events: list[Literal["informed", "inform-exception"]] = Field(default_factory=list)
    persons: list[Person] = Field(default_factory=list)
    feedback: list[FeedbackStatus] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_way(self) -> Closes:
        if bool(self.events) == bool(self.feedback):
            raise ValueError("name either events or feedback statuses, not both or neither")
        if bool(self.events) != bool(self.persons):
            raise ValueError("inform events need the persons to be told (persons), and only they")
        return self


class ExceptionCode(_Duty):
    code: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    summary: PolicyLine


class Duty(_Duty):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    kind: DutyKind
    statute: PolicyLine = Field(description="the citation as text, as a lawyer writes it")
    source: str = Field(pattern=r"^https://lovdata\.no/")
    status: Status
    summary: PolicyLine
    holder: Holder
    opens: list[Opens] = Field(default_factory=list)
    closes: Closes | None = None
    deadline_days: int | None = Field(default=None, ge=1, le=366)
    deadline_note: PolicyText | None = None
    exceptions: list[ExceptionCode] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Duty:
        obligation = self.kind is DutyKind.obligation
        if obligation != (bool(self.opens) and self.closes is not None):
            raise ValueError("an obligation needs opens and closes; other kinds neither")
        if self.exceptions and (self.closes is None or INFORM_EXCEPTION not in self.closes.events):
            raise ValueError("exceptions: only a duty closed by inform-exception names them")
        codes = [e.code for e in self.exceptions]
        if len(codes) != len(set(codes)):
            raise ValueError("exceptions: duplicate code")
        return self

    @property
    def exception_codes(self) -> frozenset[str]:
        return frozenset(e.code for e in self.exceptions)


def opened(
    duties: Iterable[Duty],
    *,
    sender: str,
    basis: str,
    notice_type: str,
    recipient: str,
    status: str | None,
) -> list[str]:
    """The ids of the obligations a delivered decision opens, in catalogue order."""
    return [
        duty.id
        for duty in duties
        if any(
            _matches(o.senders, sender)
            and _matches(o.bases, basis)
            and _matches(o.notice_types, notice_type)
            and _matches(o.recipients, recipient)
            and _matches([str(s) for s in o.statuses], status)
            for o in duty.opens
        )
    ]


def _matches(allowed: list[str], value: str | None) -> bool:
    return not allowed or value in allowed


def check_duties(
    where: str,
    duties: list[Duty],
    bases: Mapping[str, LegalBasis],
    recipients: Mapping[str, Recipient],
) -> None:
    """Every basis, recipient, sender and notice type a duty names exists: a typo (or a basis
    renamed in legal-bases.yaml) would silently open nothing."""
    problems: list[str] = []
    senders = set(NOTICE_SENDERS.values())
    for duty, i, o in ((d, i, o) for d in duties for i, o in enumerate(d.opens)):
        for name, values, known in (
            ("bases", o.bases, bases),
            ("recipients", o.recipients, recipients),
            ("senders", o.senders, senders),
            ("notice_types", o.notice_types, NOTICE_SENDERS),
        ):
            what = {"bases": "legal basis"}.get(name, name[:-1].replace("_", " "))
            problems += [
                f"{duty.id}: opens.{i}.{name}: unknown {what} '{v}'"
                for v in values
                if v not in known
            ]
    if problems:
        raise PolicyError(where, problems)
