"""An organisation's copies that were delivered but never opened, from the auditor store.

What `broker directory retire` reports (and audits) before an organisation stops receiving:
its deliveries, by the ``organisation`` the delivery's audit record names in its bytes, and
the receipts its own receipts topic relayed for them (``received``, ``opened``; the relay names
the organisation by the topic the receipt came from). Computed from a scan of the rows as their
bytes say they are, like the store's other summaries, never from the index columns.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from broker.adapters.stores.auditor.store import AuditStore
from broker.core.audit.events import CHECKPOINT_TYPE


@dataclass(frozen=True)
class Unread:
    """Delivery ids: ``unread`` were never opened; ``unreceived``, a part of them, never even
    received. ``delivered``: how many the organisation was sent in all."""

    delivered: int
    unread: tuple[str, ...]
    unreceived: tuple[str, ...]


def unread_of(rows: Iterable[dict[str, Any]], organisation: str) -> Unread:
    """``organisation``'s delivered copies without an ``opened`` (or ``received``) receipt of
    its own, from rows derived from the record bytes (checkpoints are skipped)."""
    delivered: set[str] = set()
    receipts: dict[str, set[str]] = {"received": set(), "opened": set()}
    for row in rows:
        did = row["delivery_id"]
        if row["ce_type"] == CHECKPOINT_TYPE or did is None:
            continue
        if row["outcome"] == "deliver":
            if row["organisation"] == organisation:
                delivered.add(did)
        # receipts relayed before they named their organisation held its id as the recipient
        elif row["event"] in receipts and (row["organisation"] or row["recipient"]) == organisation:
            receipts[row["event"]].add(did)
    unread = delivered - receipts["opened"]
    # an opened copy was received, even if that receipt was lost
    unreceived = unread - receipts["received"]
    return Unread(len(delivered), tuple(sorted(unread)), tuple(sorted(unreceived)))


def unread_copies(store: AuditStore, organisation: str) -> Unread:
    """``unread_of`` over every row of ``store`` (a scan)."""
    return unread_of((row for row, _ in store.scan()), organisation)
