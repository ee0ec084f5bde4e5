"""What verification finds: the kinds of fault, the first fault with where it is, the report."""

from __future__ import annotations

from array import array
from bisect import bisect_left
from dataclasses import dataclass, field
from enum import StrEnum

from broker.core.audit.checkpoint import Checkpoint


class FaultKind(StrEnum):
    edited = "edited"
    missing = "missing"
    inserted = "inserted"
    reordered = "reordered"
    bad_signature = "bad-signature"
    malformed = "malformed"
    forked = "forked"
    truncated = "truncated"
    unattributed = "unattributed"  # not signed by a writer entitled to its kind (writers.py)
    # not evidence of tampering, but nothing proves the records: strict verification fails
    unsealed = "unsealed-records"
    no_checkpoints = "no-checkpoints"
    witness_missing = "witness-missing"
    witness_empty = "witness-empty"


UNPROVEN = frozenset(
    {
        FaultKind.unsealed,
        FaultKind.no_checkpoints,
        FaultKind.witness_missing,
        FaultKind.witness_empty,
    }
)


@dataclass(frozen=True)
class Fault:
    """The first inconsistency: what kind, which record (log index, topic offset, record id)."""

    kind: FaultKind
    detail: str
    index: int | None = None
    offset: int | None = None
    record_id: str | None = None
    checkpoint_offset: int | None = None
    recheck: tuple[int, int] | None = None  # leaves a second pass must hold to name the record

    def where(self) -> str:
        if self.index is None:
            if self.checkpoint_offset is None:
                return "the log"
            return f"checkpoint at offset {self.checkpoint_offset}"
        parts = [f"record #{self.index}"]
        if self.offset is not None:
            parts.append(f"offset {self.offset}")
        if self.record_id:
            parts.append(f"record_id {self.record_id}")
        return ", ".join(parts)

    def __str__(self) -> str:
        return f"{self.kind}: {self.where()}: {self.detail}"


@dataclass
class Report:
    records: int = 0
    checkpoints: int = 0
    witnessed: int = 0
    sealed: int = 0
    latest: Checkpoint | None = None
    fault: Fault | None = None
    sealed_offset: int | None = None  # topic offset of the last sealed record
    key_ids: set[str] = field(default_factory=set)  # keys of the checkpoints that verified
    # messages not attributable to an entitled writer (writers.py), in log order: the first
    # UNATTRIBUTED_LIMIT of them, how many in all, and the log indices of those that are records
    unattributed: list[Fault] = field(default_factory=list)
    unattributed_count: int = 0
    unattributed_records: array[int] = field(default_factory=lambda: array("q"))

    @property
    def ok(self) -> bool:
        return self.fault is None and self.unattributed_count == 0

    @property
    def verified(self) -> int:
        """Sealed records that are also attributed to an entitled writer: the figure to show as
        verified (meaningful only without a fault)."""
        return self.sealed - bisect_left(self.unattributed_records, self.sealed)

    @property
    def unsealed(self) -> int:
        return self.records - self.sealed
