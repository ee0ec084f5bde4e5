"""Obligations: the duties decisions opened (``AuditRecord.duties``), followed to the events
that close them, as of a given ``now``.

Two ways to close, as policies/duties.yaml says per duty:

- inform events (``informed``, ``inform-exception``, broker.core.audit.inform) naming the
  decision record: the obligation closes once they cover every person the duty tells (the
  child and the guardians), one event or several;
- concern feedback: a later feedback decision whose ``answers`` names the concern report (by
  its notice id) with a status the duty accepts. The report's own duties wait for the report's
  id; a duty opened by a feedback (follow-up) waits for the same report's id too.

What does not fit is listed in ``Ledger.problems``, never dropped silently: an inform event for
a record that opened no such duty, an exception code the catalogue does not list (not counted),
a feedback answering a report no decision in the log opened a duty for (``unmatched``), a
record naming a duty the catalogue no longer has. Pure: documents and the clock come in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from broker.core.audit.errors import NotAnAuditMessage
from broker.core.audit.messages import Informed, InformException, read_stored_record
from broker.core.policy.duties import Duty, Holder
from broker.core.records import AuditRecord


class State(StrEnum):
    open = "open"
    closed = "closed"
    overdue = "overdue"  # open after its due time


@dataclass(frozen=True)
class Obligation:
    """One duty opened by one decision record, and where it stands at ``now``."""

    duty: str
    record_id: str
    organisation: str | None  # who acts (holder), or who received for a discloser's duty
    opened_at: datetime
    due_at: datetime | None
    state: State
    closed_by: tuple[str, ...] = ()  # record ids of the closing events, in log order
    closed_at: datetime | None = None
    notice_type: str | None = None
    report: str | None = None  # the concern report's notice id, for a feedback duty

    @property
    def late(self) -> bool:
        """Closed, but after its due time."""
        return bool(self.closed_at and self.due_at and self.closed_at > self.due_at)


@dataclass
class Ledger:
    obligations: list[Obligation] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass
class _Open:
    """An obligation while the log is read: what it waits for and what has covered it."""

    duty: Duty
    record: AuditRecord
    report: str | None
    covered: set[str] = field(default_factory=set)
    closed_by: list[str] = field(default_factory=list)
    closed_at: datetime | None = None


@dataclass(frozen=True)
class _Feedback:
    record_id: str
    notice_id: str
    report: str
    status: str
    at: datetime


def _read(documents: Iterable[Mapping[str, Any]]) -> list[Any]:
    """The documents as records, each record id once (at-least-once delivery repeats them)."""
    seen: set[str] = set()
    out = []
    for doc in documents:
        try:
            record = read_stored_record(dict(doc))
        except NotAnAuditMessage:
            continue
        if record.record_id not in seen:
            seen.add(record.record_id)
            out.append(record)
    return out


def ledger(documents: Iterable[Mapping[str, Any]], duties: Iterable[Duty], now: datetime) -> Ledger:
    """Every obligation the documents open, closed or not at ``now``, and the problems."""
    catalogue = {d.id: d for d in duties}
    records = _read(documents)
    out = Ledger()
    opened = _opened(records, catalogue, out.problems)
    feedback = _feedback(records)
    _close_by_feedback(opened, feedback, out.problems)
    _close_by_events(opened, [r for r in records if isinstance(r, Informed | InformException)], out)
    out.obligations = [_settled(o, now) for o in opened.values()]
    return out


def _opened(
    records: list[Any], catalogue: Mapping[str, Duty], problems: list[str]
) -> dict[tuple[str, str], _Open]:
    opened: dict[tuple[str, str], _Open] = {}
    for r in records:
        if not isinstance(r, AuditRecord):
            continue
        for duty_id in r.duties:
            duty = catalogue.get(duty_id)
            if duty is None or duty.closes is None:
                problems.append(
                    f"unknown-duty: record {r.record_id} opened '{duty_id}', which "
                    "policies/duties.yaml has no obligation for"
                )
                continue
            report = r.answers.notice_id if r.answers is not None else r.notice_id
            opened[(duty_id, r.record_id)] = _Open(
                duty, r, report if duty.closes.feedback else None
            )
    return opened


def _feedback(records: list[Any]) -> list[_Feedback]:
    """Each feedback notice once (it has a decision record per recipient), in log order."""
    seen: set[str] = set()
    out = []
    for r in records:
        if isinstance(r, AuditRecord) and r.answers is not None and r.notice_id not in seen:
            seen.add(str(r.notice_id))
            out.append(
                _Feedback(
                    r.record_id,
                    str(r.notice_id),
                    r.answers.notice_id,
                    r.answers.status,
                    r.recorded_at,
                )
            )
    return out


def _close_by_feedback(
    opened: Mapping[tuple[str, str], _Open], feedback: list[_Feedback], problems: list[str]
) -> None:
    reports = {o.report for o in opened.values() if o.report and o.record.answers is None}
    for f in feedback:
        if f.report not in reports:
            problems.append(
                f"unmatched: feedback {f.notice_id} (record {f.record_id}) answers report "
                f"{f.report}, which opened no duty in this log"
            )
    for o in opened.values():
        assert o.duty.closes is not None
        accepted = {str(s) for s in o.duty.closes.feedback}
        for f in feedback:
            if (
                f.report == o.report
                and f.status in accepted
                and f.notice_id != o.record.notice_id
                and f.at >= o.record.recorded_at
            ):
                o.closed_by.append(f.record_id)
                o.closed_at = f.at
                break


def _close_by_events(
    opened: Mapping[tuple[str, str], _Open], events: list[Informed | InformException], out: Ledger
) -> None:
    for e in events:
        o = opened.get((e.duty, e.decision_record_id))
        if o is None:
            out.problems.append(
                f"no-duty: {e.event} {e.record_id} refers to record {e.decision_record_id}, "
                f"which opened no duty '{e.duty}'"
            )
            continue
        assert o.duty.closes is not None
        if e.event not in o.duty.closes.events:
            out.problems.append(f"wrong-event: {e.event} {e.record_id} does not close {e.duty}")
            continue
        if isinstance(e, InformException) and e.exception not in o.duty.exception_codes:
            out.problems.append(
                f"unknown-exception: {e.record_id} names '{e.exception}', not an exception of "
                f"{e.duty}: not counted"
            )
            continue
        if o.closed_at is not None:
            continue  # already covered: a later event adds nothing
        o.covered |= set(e.persons)
        o.closed_by.append(e.record_id)
        if o.covered >= {str(p) for p in o.duty.closes.persons}:
            o.closed_at = e.recorded_at


def _settled(o: _Open, now: datetime) -> Obligation:
    r = o.record
    days = o.duty.deadline_days
    due = r.recorded_at + timedelta(days=days) if days is not None else None
    if o.closed_at is not None:
        state = State.closed
    elif due is not None and now > due:
        state = State.overdue
    else:
        state = State.open
    organisation = r.publisher if o.duty.holder is Holder.publisher else r.organisation
    return Obligation(
        duty=o.duty.id,
        record_id=r.record_id,
        organisation=organisation,
        opened_at=r.recorded_at,
        due_at=due,
        state=state,
        closed_by=tuple(o.closed_by),
        closed_at=o.closed_at,
        notice_type=r.notice_type,
        report=o.report,
    )
