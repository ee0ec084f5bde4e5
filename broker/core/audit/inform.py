"""The events that close a duty to inform (politiregisterloven § 48): ``informed`` (who was
told, how, when) and ``inform-exception`` (the exception that applies, as a code from
policies/duties.yaml). Each refers to the decision record that opened the duty by its record
id, and carries no free text: a person's name or a reason in words would put personal data in
a log that is kept for ever.

Who writes them: the reviewer writer (``writers.REVIEWER``), the controller's office that
already reviews urgent disclosures afterwards. Informing the child and the guardians is the
same office's follow-up of the same decisions, so no new principal, key or ACL is needed; the
events travel under a CloudEvents type of their own (``OBLIGATION_TYPE``), so that a review
cannot pose as an inform event or the other way round (``writers.ENTITLED``).

Pure: the caller passes the time and the duty from the loaded policy.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from broker.core.audit.errors import ObligationError
from broker.core.audit.events import canonical
from broker.core.crypto import refs
from broker.core.policy.duties import INFORM_EXCEPTION, INFORMED, Duty, InformHow
from broker.core.times import utc_z


def _persons(duty: Duty, persons: Iterable[str]) -> list[str]:
    """The persons named, each one the duty tells, sorted and once each."""
    assert duty.closes is not None
    allowed = ", ".join(sorted(str(p) for p in duty.closes.persons))
    named = sorted(set(persons))
    if not named:
        raise ObligationError("persons", f"name who ({allowed})")
    unknown = [p for p in named if p not in allowed.split(", ")]
    if unknown:
        raise ObligationError("persons", f"'{unknown[0]}' is not one {duty.id} tells ({allowed})")
    return named


def _check(duty: Duty, event: str) -> None:
    if duty.closes is None or event not in duty.closes.events:
        raise ObligationError("duty", f"{duty.id} is not closed by {event} events")


def _event(data: dict[str, Any], record_id: str, when: datetime) -> tuple[str, bytes]:
    if when.tzinfo is None:
        raise ObligationError("recorded_at", "must carry a time zone")
    stamp = utc_z(when)
    rid = refs.stable_id(data["event"], record_id, data["duty"], ",".join(data["persons"]), stamp)
    value = {"record_id": rid, "recorded_at": stamp, "decision_record_id": record_id, **data}
    return rid, canonical(value)


def informed_event(
    record_id: str,
    duty: Duty,
    *,
    persons: Iterable[str],
    how: str,
    informed_at: datetime,
    when: datetime,
) -> tuple[str, bytes]:
    """(event id, canonical value) of an ``informed`` event: ``persons`` were told of the
    disclosure recorded as ``record_id``, ``how``, at ``informed_at`` (not after ``when``)."""
    _check(duty, INFORMED)
    named = _persons(duty, persons)
    if how not in {str(h) for h in InformHow}:
        raise ObligationError("how", f"must be one of {', '.join(str(h) for h in InformHow)}")
    if informed_at.tzinfo is None:
        raise ObligationError("informed_at", "must carry a time zone")
    if informed_at > when:
        raise ObligationError("informed_at", "is in the future")
    data = {
        "event": INFORMED,
        "duty": duty.id,
        "persons": named,
        "how": how,
        "informed_at": utc_z(informed_at),
    }
    return _event(data, record_id, when)


def exception_event(
    record_id: str, duty: Duty, *, persons: Iterable[str], code: str, when: datetime
) -> tuple[str, bytes]:
    """(event id, canonical value) of an ``inform-exception`` event: the exception ``code``
    (one the duty lists) applies to telling ``persons`` of the disclosure ``record_id``."""
    _check(duty, INFORM_EXCEPTION)
    named = _persons(duty, persons)
    if code not in duty.exception_codes:
        codes = ", ".join(sorted(duty.exception_codes))
        raise ObligationError("exception", f"'{code}' is not an exception of {duty.id} ({codes})")
    data = {"event": INFORM_EXCEPTION, "duty": duty.id, "persons": named, "exception": code}
    return _event(data, record_id, when)
