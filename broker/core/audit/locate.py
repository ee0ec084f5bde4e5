"""Naming the first record a checkpoint's root disagrees with, from its signed leaf hints.

A checkpoint carries a short hint of each leaf it covers (checkpoint.HINT_BYTES). When the
records no longer give its root, comparing the hints with the held leaves says which record is
edited, missing, inserted or reordered; a rival history that another checkpoint vouches for is a
fork. When the leaves it takes are no longer held, the fault says which to hold on a second pass.
"""

from __future__ import annotations

from dataclasses import dataclass

from broker.core.audit.checkpoint import HINT_BYTES, Checkpoint
from broker.core.audit.events import record_id_of
from broker.core.audit.faults import Fault, FaultKind
from broker.core.audit.window import LeafWindow, Unheld

_W = HINT_BYTES * 2


def hint_in(cp: Checkpoint, i: int) -> str | None:
    if cp.hints_from <= i < cp.tree_size:
        k = (i - cp.hints_from) * _W
        return cp.leaf_hints[k : k + _W]
    return None


def hint_expected(sources: list[Checkpoint], i: int, upto: Checkpoint) -> str | None:
    """The hint for leaf ``i`` from ``upto`` or the latest of ``sources`` no larger than it."""
    h = hint_in(upto, i)
    if h is not None:
        return h
    for cp in reversed(sources):
        if cp.tree_size <= upto.tree_size:
            h = hint_in(cp, i)
            if h is not None:
                return h
    return None


@dataclass(frozen=True)
class Locator:
    """Locates over the leaves ``w`` holds; every leaf below ``proven`` is proven."""

    w: LeafWindow
    proven: int

    def hint(self, i: int) -> str:
        return self.w.leaf(i)[:HINT_BYTES].hex()

    def against_data(
        self,
        cp: Checkpoint,
        sources: list[Checkpoint],
        what: str,
        end: bool = False,
        offset: int | None = None,
    ) -> Fault:
        """``cp``'s root is not the records': name the first record its hints disagree with."""
        size = self.w.end
        try:
            i = self._first_difference(cp, sources)
            if i is None:  # the hints agree but the root does not: name the checkpoint's range
                i = max(cp.hints_from, self.proven)
                if i < size and not self.w.holds(i):
                    raise Unheld(i)
                return self.fault(FaultKind.edited, i, f"{what}: root differs in records it covers")
            if i >= size:
                kind = FaultKind.truncated if end else FaultKind.missing
                detail = (
                    f"the log ends at {size} records but {what} covers {cp.tree_size}"
                    if end
                    else f"{what} covers {cp.tree_size} records, only {size} precede it"
                )
                return self.fault(kind, i, detail)
            return self._classify(i, cp, sources, what)
        except Unheld:
            return self.recheck(FaultKind.edited, cp, offset, what)

    def _first_difference(self, cp: Checkpoint, sources: list[Checkpoint]) -> int | None:
        size = self.w.end
        for i in range(self.proven, cp.tree_size):
            expected = hint_expected(sources, i, cp)
            if expected is None:
                continue
            if i >= size or self.hint(i) != expected:
                return i
        return None

    def _classify(self, i: int, cp: Checkpoint, sources: list[Checkpoint], what: str) -> Fault:
        size = self.w.end

        def exp(j: int) -> str | None:
            return hint_expected(sources, j, cp)

        def act(j: int) -> str | None:
            return self.hint(j) if j < size and self.w.holds(j) else None

        if act(i) == exp(i + 1) and act(i + 1) == exp(i):
            return self.fault(
                FaultKind.reordered, i, f"{what}: records #{i} and #{i + 1} are swapped"
            )
        if act(i) == exp(i + 1):
            return self.fault(
                FaultKind.missing, i, f"{what}: sealed record #{i} is gone; this one followed it"
            )
        if act(i + 1) == exp(i):
            return self.fault(FaultKind.inserted, i, f"{what}: this record was never sealed")
        target = exp(i)
        moved = next(
            (j for j in range(i + 1, min(size, cp.tree_size + 1)) if act(j) == target), None
        )
        if moved is not None:
            return self.fault(
                FaultKind.reordered, i, f"{what}: the sealed record #{i} now sits at #{moved}"
            )
        return self.fault(FaultKind.edited, i, f"{what}: the record's bytes changed after sealing")

    def diverge(
        self, cp: Checkpoint, sources: list[Checkpoint], detail: str, offset: int | None
    ) -> Fault:
        """A validly signed ``cp`` disagrees with records another checkpoint vouches for: a fork,
        named at the first record where its hints and the records differ."""
        try:
            for i in range(cp.hints_from, min(cp.tree_size, self.w.end)):
                x = hint_expected(sources, i, cp)
                if x is not None and x != self.hint(i):
                    return self.fault(FaultKind.forked, i, f"{detail}; they diverge here", offset)
        except Unheld:
            return self.recheck(FaultKind.forked, cp, offset, detail)
        return Fault(FaultKind.forked, detail, checkpoint_offset=offset)

    def recheck(self, kind: FaultKind, cp: Checkpoint, offset: int | None, what: str) -> Fault:
        """A fault this pass cannot name: the leaves a second pass must hold to name it."""
        lo = min(cp.hints_from, self.proven)
        if self.w.keep is not None and self.w.keep[0] <= lo and cp.tree_size < self.w.keep[1]:
            return Fault(kind, f"{what}: does not match the records", checkpoint_offset=offset)
        return Fault(
            kind,
            f"{what}: covers records no longer held; re-read the log to name the record",
            checkpoint_offset=offset,
            recheck=(lo, cp.tree_size + 2),
        )

    def fault(
        self, kind: FaultKind, i: int | None, detail: str, checkpoint_offset: int | None = None
    ) -> Fault:
        if i is None:
            return Fault(kind, detail, checkpoint_offset=checkpoint_offset)
        value = self.w.value(i)
        rid = record_id_of(value) if value is not None else None
        return Fault(kind, detail, i, self.w.offset(i), rid, checkpoint_offset)
