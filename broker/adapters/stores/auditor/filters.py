"""What ``broker audit query`` and the auditor page select on, as conditions on the index columns.

The conditions only select rows; the store checks every selected row against its bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from broker.adapters.stores.auditor.columns import stamp
from broker.core.audit.events import CHECKPOINT_TYPE


@dataclass(frozen=True)
class Filters:
    """What ``broker audit query`` selects on; None means any."""

    recipient: str | None = None  # the role, e.g. school
    organisation: str | None = None  # the directory id, e.g. bydel-alna-barnevern
    legal_basis: str | None = None
    decision: str | None = None  # deliver, deny, dead-letter, review
    notice_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    policy_version: str | None = None
    subject_ref: str | None = None
    limit: int | None = None

    def where(self) -> tuple[list[str], list[Any]]:
        """The conditions (with ``?`` marks) on the index columns, and their parameters."""
        where, params = ["ce_type <> ?"], [CHECKPOINT_TYPE]
        for column, value in (
            ("recipient", self.recipient),
            ("organisation", self.organisation),
            ("legal_basis", self.legal_basis),
            ("notice_id", self.notice_id),
            ("policy_version", self.policy_version),
            ("subject_ref", self.subject_ref),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if self.decision is not None:
            if self.decision in ("deliver", "deny"):
                where.append("outcome = ?")
            else:
                where.append("event = ?")
            params.append(self.decision)
        if self.since is not None:
            where.append("recorded_at >= ?")
            params.append(stamp(self.since) or "")
        if self.until is not None:
            where.append("recorded_at < ?")
            params.append(stamp(self.until) or "")
        return where, params
