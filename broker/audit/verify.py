"""Walk the audit log in order and name the first record that is not what was sealed.

The verifier is fed the audit topic's messages in order (from Kafka, a dump or the auditor
store) and, optionally, the checkpoints a witness kept outside Kafka. It rebuilds the Merkle
tree from the records' bytes and checks every checkpoint against it:

* a checkpoint not signed by a trusted key, or not well formed: **bad-signature** / malformed;
* two validly signed checkpoints that describe different histories: **forked**;
* the records no longer give a checkpoint's root: the signed leaf hints locate the first
  difference, which is an **edited**, **missing**, **inserted** or **reordered** record;
* the log ends before a checkpoint's size: **truncated**.

Records after the last checkpoint are reported as unsealed: they cannot be checked yet.

Given the key registry, it also checks who wrote each message (broker.audit.writers): one not
signed by a writer entitled to its kind is **unattributed**: listed in ``Report.unattributed``
(all of them, up to a limit; all are counted) and the report is not ok, but the walk goes on:
the record stays a leaf, so the checkpoints after it are still checked.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from broker.audit import writers
from broker.audit.checkpoint import HINT_BYTES, Checkpoint, verify_signature
from broker.audit.errors import AuditError, SignatureError
from broker.audit.events import Entry, record_id_of
from broker.audit.merkle import MerkleTree, leaf_hash
from broker.keys import Registry

RETAIN_LIMIT = 200_000  # record values kept to name a bad record; beyond it, offsets only
UNATTRIBUTED_LIMIT = 1000  # unattributed messages listed; beyond it, counted


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


@dataclass(frozen=True)
class Fault:
    """The first inconsistency: what kind, which record (log index, topic offset, record id)."""

    kind: FaultKind
    detail: str
    index: int | None = None
    offset: int | None = None
    record_id: str | None = None
    checkpoint_offset: int | None = None

    def where(self) -> str:
        if self.index is None:
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


@dataclass
class _Hints:
    """Expected leaf hints by index, from one source's checkpoints (topic or witness)."""

    by_size: dict[int, Checkpoint] = field(default_factory=dict)

    def add(self, cp: Checkpoint) -> None:
        self.by_size.setdefault(cp.tree_size, cp)

    def get(self, i: int, upto: Checkpoint | None = None) -> str | None:
        for size in sorted(self.by_size, reverse=True):
            cp = self.by_size[size]
            if upto is not None and size > upto.tree_size:
                continue
            if cp.hints_from <= i < cp.tree_size:
                w = HINT_BYTES * 2
                k = (i - cp.hints_from) * w
                return cp.leaf_hints[k : k + w]
        return None


class Verifier:
    """Incremental: ``add`` each entry in topic order, then ``finish``. Stops at the first fault."""

    def __init__(
        self,
        trusted: Mapping[str, Ed25519PublicKey],
        origin: str | None = None,
        witness: Iterable[Checkpoint] = (),
        registry: Registry | None = None,
    ) -> None:
        self.trusted = dict(trusted)
        self.origin = origin
        # None: who wrote each message is not checked (tests of the Merkle core, the sealer)
        self.registry = registry
        self.tree = MerkleTree()
        self.report = Report()
        self._offsets = array("q")
        self._values: dict[int, bytes] = {}
        self._verified = 0  # every leaf below this index is proven by a checkpoint
        self._topic = _Hints()
        self._witness = _Hints()
        self._unchecked_witness: list[Checkpoint] = []
        for cp in witness:
            self._accept_witness(cp)

    # --- feeding -----------------------------------------------------------------------------

    def _accept_witness(self, cp: Checkpoint) -> None:
        if self.report.fault:
            return
        try:
            self._check_checkpoint(cp)
        except AuditError as exc:
            bad = isinstance(exc, SignatureError)
            kind = FaultKind.bad_signature if bad else FaultKind.malformed
            self._fail(Fault(kind, f"witness copy: {exc}"))
            return
        other = self._witness.by_size.get(cp.tree_size)
        if other is not None and other.root_hash != cp.root_hash:
            self._fail(self._fork(other, cp, self._witness, None, "the witness holds two roots"))
            return
        self._witness.add(cp)
        self._unchecked_witness.append(cp)
        self.report.witnessed += 1

    def add(self, entry: Entry) -> Fault | None:
        """Feed the next message of the audit topic; return the first fault once found."""
        if self.report.fault:
            return self.report.fault
        self._check_writer(entry)
        if entry.is_checkpoint:
            self._add_checkpoint(entry)
        else:
            self.add_leaf(entry.offset, leaf_hash(entry.value), entry.value)
        return self.report.fault

    def add_leaf(self, offset: int, h: bytes, value: bytes | None = None) -> None:
        index = self.tree.append_hash(h)
        self._offsets.append(offset)
        if value is not None and len(self._values) < RETAIN_LIMIT:
            self._values[index] = value
        self.report.records += 1

    def finish(self) -> Report:
        """End of the log: check what the witness holds against what is there."""
        if self.report.fault:
            return self.report
        for cp in sorted(self._unchecked_witness, key=lambda c: c.tree_size):
            fault = self._against_data(cp, self._witness, "witness copy", end=True)
            if fault:
                self._fail(fault)
                return self.report
            self._proven(cp)
        self._unchecked_witness.clear()
        return self.report

    # --- checkpoints -------------------------------------------------------------------------

    def _check_checkpoint(self, cp: Checkpoint) -> None:
        if self.origin is not None and cp.origin != self.origin:
            raise AuditError(f"{cp.label()}: for log '{cp.origin}', not '{self.origin}'")
        verify_signature(cp, self.trusted)

    def _add_checkpoint(self, entry: Entry) -> None:
        try:
            cp = Checkpoint.from_json(entry.value)
            self._check_checkpoint(cp)
        except SignatureError as exc:
            self._fail(Fault(FaultKind.bad_signature, str(exc), checkpoint_offset=entry.offset))
            return
        except AuditError as exc:
            self._fail(Fault(FaultKind.malformed, str(exc), checkpoint_offset=entry.offset))
            return
        self.report.checkpoints += 1
        for hints, label in ((self._witness, "the witness's copy"), (self._topic, "an earlier")):
            other = hints.by_size.get(cp.tree_size)
            if other is not None and other.root_hash != cp.root_hash:
                detail = f"{cp.label()} and {label} checkpoint of that size differ"
                self._fail(self._fork(other, cp, hints, entry.offset, detail))
                return
        self._topic.add(cp)
        fault = self._against_data(cp, self._topic, f"{cp.label()} at offset {entry.offset}")
        if fault:
            self._fail(fault)
            return
        # this checkpoint vouches for the records: a witness copy now disagreeing is a fork
        for w in [w for w in self._unchecked_witness if w.tree_size <= cp.tree_size]:
            if self.tree.root(w.tree_size) != w.root:
                detail = (
                    f"{cp.label()} at offset {entry.offset} is signed over a history the "
                    f"witness's checkpoint {w.tree_size} does not contain"
                )
                self._fail(self._fork(w, cp, self._witness, entry.offset, detail))
                return
            self._unchecked_witness.remove(w)
        self._proven(cp)

    def _proven(self, cp: Checkpoint) -> None:
        self.report.sealed = max(self.report.sealed, cp.tree_size)
        if self.report.latest is None or cp.tree_size >= self.report.latest.tree_size:
            self.report.latest = cp
        if cp.tree_size > self._verified:
            for i in range(self._verified, cp.tree_size):
                self._values.pop(i, None)
            self._verified = cp.tree_size

    def _against_data(
        self, cp: Checkpoint, hints: _Hints, what: str, end: bool = False
    ) -> Fault | None:
        size = len(self.tree)
        if cp.tree_size <= size and self.tree.root(cp.tree_size) == cp.root:
            return None
        i = self._first_difference(cp, hints)
        if i is None:  # the hints agree but the root does not: name the checkpoint's range
            i = max(cp.hints_from, self._verified)
            return self._fault(FaultKind.edited, i, f"{what}: root differs in records it covers")
        if i >= size:
            kind = FaultKind.truncated if end else FaultKind.missing
            detail = (
                f"the log ends at {size} records but {what} covers {cp.tree_size}"
                if end
                else f"{what} covers {cp.tree_size} records, only {size} precede it"
            )
            return self._fault(kind, i, detail)
        return self._classify(i, cp, hints, what)

    def _first_difference(self, cp: Checkpoint, hints: _Hints) -> int | None:
        for i in range(self._verified, cp.tree_size):
            expected = hints.get(i, upto=cp)
            if expected is None:
                continue
            if i >= len(self.tree) or self._hint(i) != expected:
                return i
        return None

    def _hint(self, i: int) -> str:
        return self.tree.leaf(i)[:HINT_BYTES].hex()

    def _classify(self, i: int, cp: Checkpoint, hints: _Hints, what: str) -> Fault:
        size = len(self.tree)

        def exp(j: int) -> str | None:
            return hints.get(j, upto=cp)

        def act(j: int) -> str | None:
            return self._hint(j) if j < size else None

        if act(i) == exp(i + 1) and act(i + 1) == exp(i):
            return self._fault(
                FaultKind.reordered, i, f"{what}: records #{i} and #{i + 1} are swapped"
            )
        if act(i) == exp(i + 1):
            return self._fault(
                FaultKind.missing, i, f"{what}: sealed record #{i} is gone; this one followed it"
            )
        if act(i + 1) == exp(i):
            return self._fault(FaultKind.inserted, i, f"{what}: this record was never sealed")
        target = exp(i)
        moved = next(
            (j for j in range(i + 1, min(size, cp.tree_size + 1)) if act(j) == target), None
        )
        if moved is not None:
            return self._fault(
                FaultKind.reordered, i, f"{what}: the sealed record #{i} now sits at #{moved}"
            )
        return self._fault(FaultKind.edited, i, f"{what}: the record's bytes changed after sealing")

    def _fork(
        self, a: Checkpoint, b: Checkpoint, hints: _Hints, offset: int | None, detail: str
    ) -> Fault:
        """Two validly signed checkpoints disagree: name the first record where they do."""
        theirs = _Hints(dict(self._topic.by_size))
        theirs.by_size[b.tree_size] = b
        for i in range(min(a.tree_size, b.tree_size)):
            x, y = hints.get(i, upto=a), theirs.get(i, upto=b)
            if x is not None and y is not None and x != y:
                return self._fault(FaultKind.forked, i, f"{detail}; they diverge here", offset)
        return Fault(FaultKind.forked, detail, checkpoint_offset=offset)

    # --- naming ------------------------------------------------------------------------------

    def _fault(
        self, kind: FaultKind, i: int, detail: str, checkpoint_offset: int | None = None
    ) -> Fault:
        offset = self._offsets[i] if i < len(self._offsets) else None
        value = self._values.get(i)
        rid = record_id_of(value) if value is not None else None
        return Fault(kind, detail, i, offset, rid, checkpoint_offset)

    def _fail(self, fault: Fault) -> None:
        if self.report.fault is None:
            self.report.fault = fault

    # --- writers -----------------------------------------------------------------------------

    def _check_writer(self, entry: Entry) -> None:
        """List the message if no entitled writer signed it (broker.audit.writers)."""
        if self.registry is None:
            return
        problem = writers.check(entry, self.registry)
        if problem is None:
            return
        report = self.report
        report.unattributed_count += 1
        if entry.is_checkpoint:
            fault = Fault(FaultKind.unattributed, problem, checkpoint_offset=entry.offset)
        else:
            index = len(self.tree)  # the index this record is about to take
            report.unattributed_records.append(index)
            rid = record_id_of(entry.value)
            fault = Fault(FaultKind.unattributed, problem, index, entry.offset, rid)
        if len(report.unattributed) < UNATTRIBUTED_LIMIT:
            report.unattributed.append(fault)


def verify_log(
    entries: Iterable[Entry],
    trusted: Mapping[str, Ed25519PublicKey],
    origin: str | None = None,
    witness: Iterable[Checkpoint] = (),
    progress: Callable[[int], None] | None = None,
    *,
    registry: Registry | None = None,
) -> Report:
    """Verify a whole log; ``progress`` is called with the count of entries read every 10 000.
    With the key registry, who wrote each message is checked too (Report.unattributed)."""
    v = Verifier(trusted, origin, witness, registry)
    for n, entry in enumerate(entries, 1):
        if v.add(entry):
            break
        if progress is not None and n % 10_000 == 0:
            progress(n)
    return v.finish()
