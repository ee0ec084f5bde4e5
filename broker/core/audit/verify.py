"""Walk the audit log in order and name the first record that is not what was sealed.

The verifier is fed the audit topic's messages in order (from Kafka, a dump or the auditor
store) and, optionally, the checkpoints a witness kept outside Kafka (in tree-size order, as the
witness file is written). It rebuilds the Merkle root from the records' bytes and checks every
checkpoint against it:

* a checkpoint not signed by a trusted key, or not well formed: **bad-signature** / malformed;
* two validly signed checkpoints that describe different histories: **forked**;
* the records no longer give a checkpoint's root: the signed leaf hints locate the first
  difference, which is an **edited**, **missing**, **inserted** or **reordered** record;
* the log ends before a checkpoint's size: **truncated**.

Strict by default, because a log that proves nothing must not pass for one that verifies:
records after the last checkpoint are **unsealed-records** (unless ``allow_unsealed``), records
with no checkpoint on the log at all are **no-checkpoints**, and when the caller requires a
witness (``require_witness``), a log with checkpoints and no witness copy is
**witness-missing** (``witness=None``) or **witness-empty**.

Bounded memory: the verifier keeps a compact range (O(log n) hashes) and, to locate a fault,
the leaf hashes, offsets and (up to VALUE_BYTES) values of a window that starts at the
checkpoint before the last proven one, plus the hints of the checkpoints that cover it. With a
sealer's checkpoints every N records that window is about 2N leaves; without checkpoints it is
capped at WINDOW_LIMIT leaves. A check that needs leaves no longer held (a checkpoint older than
the window, or a fault in leaves dropped by the cap) ends with a Fault whose ``recheck`` is the
leaf range to hold: feed the log again to ``Verifier(..., keep=fault.recheck)`` (``verify_log``
does so when it can re-read its input) and that pass names the record.

Given the key registry, it also checks who wrote each message (broker.core.audit.writers): one not
signed by a writer entitled to its kind is **unattributed**: listed in ``Report.unattributed``
(all of them, up to a limit; all are counted) and the report is not ok, but the walk goes on:
the record stays a leaf, so the checkpoints after it are still checked.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from broker.core.audit import writers
from broker.core.audit.checkpoint import HINT_BYTES, Checkpoint, verify_signature
from broker.core.audit.errors import AuditError, SignatureError
from broker.core.audit.events import Entry, record_id_of
from broker.core.audit.merkle import HASH_SIZE, CompactRange, leaf_hash
from broker.core.crypto.registry import Registry

WINDOW_LIMIT = 1 << 18  # unproven leaves held to locate a fault (~10 MB); older ones need a recheck
VALUE_BYTES = 16 << 20  # record values held in the window, to name a bad record's id
RECENT_ROOTS = 1024  # roots of the latest proven sizes, for checkpoints older than the window
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


_W = HINT_BYTES * 2


def _hint_in(cp: Checkpoint, i: int) -> str | None:
    if cp.hints_from <= i < cp.tree_size:
        k = (i - cp.hints_from) * _W
        return cp.leaf_hints[k : k + _W]
    return None


def _expected(sources: list[Checkpoint], i: int, upto: Checkpoint) -> str | None:
    """The hint for leaf ``i`` from ``upto`` or the latest of ``sources`` no larger than it."""
    h = _hint_in(upto, i)
    if h is not None:
        return h
    for cp in reversed(sources):
        if cp.tree_size <= upto.tree_size:
            h = _hint_in(cp, i)
            if h is not None:
                return h
    return None


class _Unheld(Exception):
    """A check needs a leaf the verifier no longer holds."""


class Verifier:
    """Incremental: ``add`` each entry in topic order, then ``finish``. Stops at the first fault.

    ``window``: unproven leaves held before the oldest are dropped (None: never; the sealer,
    whose next checkpoint needs every leaf since its last). ``keep``: a leaf range ``(lo, hi)``
    to hold whatever happens, for a second pass after a fault with ``recheck``.
    """

    def __init__(
        self,
        trusted: Mapping[str, Ed25519PublicKey],
        origin: str | None = None,
        witness: Iterable[Checkpoint] | None = (),
        *,
        allow_unsealed: bool = False,
        require_witness: bool = False,
        window: int | None = WINDOW_LIMIT,
        keep: tuple[int, int] | None = None,
        registry: Registry | None = None,
    ) -> None:
        self.trusted = dict(trusted)
        self.origin = origin
        self.allow_unsealed = allow_unsealed
        self.require_witness = require_witness
        # None: who wrote each message is not checked (tests of the Merkle core, the sealer)
        self.registry = registry
        self.report = Report()
        self._window_limit = window
        self._range = CompactRange()  # leaves [0, size)
        self._start = 0  # leaf hashes are held from here
        self._start_range = CompactRange()  # the compact range at _start
        self._leaves = bytearray()  # 32 bytes per leaf from _start
        self._offsets = array("q")  # topic offset per leaf from _start
        self._values: dict[int, bytes] = {}
        self._value_bytes = 0
        self._proven = 0  # every leaf below this index is proven by a checkpoint
        self._roots: dict[int, bytes] = {}  # recent proven sizes -> roots
        self._topic: list[Checkpoint] = []  # topic checkpoints covering held leaves (hints)
        self._wsrc: list[Checkpoint] = []  # witness copies covering held leaves (hints)
        self._disputed: list[Checkpoint] = []  # witness copies the records do not give
        self._keep = keep
        self._kept = bytearray()
        self._kept_offsets = array("q")
        self._kept_values: dict[int, bytes] = {}
        self._kept_range: CompactRange | None = None
        self._witness_given = witness is not None
        self._witness: Iterator[Checkpoint] = iter(witness if witness is not None else ())
        self._last_w: Checkpoint | None = None
        self._next_w = self._pull_witness()
        self._check_witness()

    @property
    def size(self) -> int:
        return len(self._range)

    @property
    def held(self) -> int:
        """Leaves whose hashes are held (the window and any kept range): bounded, not n."""
        return len(self._offsets) + len(self._kept_offsets)

    def root(self) -> bytes:
        """The root of every record read so far."""
        return self._range.root()

    def leaf_hashes(self, lo: int) -> list[bytes]:
        """The leaf hashes from ``lo`` to the end (held only from the window's start)."""
        if lo < self._start:
            raise ValueError(f"leaves before #{self._start} are no longer held")
        return [
            bytes(self._leaves[k : k + 32])
            for k in range((lo - self._start) * 32, len(self._leaves), 32)
        ]

    # --- feeding -----------------------------------------------------------------------------

    def add(self, entry: Entry) -> Fault | None:
        """Feed the next message of the audit topic; return the first fault once found.

        Every message passes through here, in topic order."""
        if self.report.fault:
            return self.report.fault
        self._check_writer(entry)
        if entry.is_checkpoint:
            self._add_checkpoint(entry)
        else:
            self.add_leaf(entry.offset, leaf_hash(entry.value), entry.value)
        return self.report.fault

    def add_leaf(self, offset: int, h: bytes, value: bytes | None = None) -> None:
        if len(h) != HASH_SIZE:
            raise ValueError(f"leaf hash must be {HASH_SIZE} bytes, got {len(h)}")
        i = len(self._range)
        if self._keep is not None and self._keep[0] <= i < self._keep[1]:
            if i == self._keep[0]:
                self._kept_range = self._range.copy()
            self._kept += h
            self._kept_offsets.append(offset)
            if value is not None:
                self._kept_values[i] = value
        self._range.append(h)
        self._leaves += h
        self._offsets.append(offset)
        if value is not None and self._value_bytes + len(value) <= VALUE_BYTES:
            self._values[i] = value
            self._value_bytes += len(value)
        self.report.records += 1
        if self._next_w is not None and self._next_w.tree_size <= i + 1:
            self._check_witness()
        if self._window_limit is not None and len(self._offsets) > self._window_limit:
            self._trim()

    def finish(self) -> Report:
        """End of the log: check what the witness holds against what is there, then whether
        what was read is proven at all."""
        r = self.report
        if r.fault:
            return r
        for w in list(self._disputed):
            self._fail(self._against_data(w, self._wsrc, "witness copy", end=True))
            return r
        if self._next_w is not None:
            self._fail(self._against_data(self._next_w, self._wsrc, "witness copy", end=True))
            return r
        first = r.sealed if r.sealed < r.records else None
        if r.records and not r.checkpoints:
            self._fail(
                self._fault(
                    FaultKind.no_checkpoints,
                    first,
                    f"the log holds {r.records} record(s) and not one checkpoint: nothing on "
                    "it is sealed (were the checkpoints removed, or has the sealer never run?)",
                )
            )
        elif self.require_witness and r.checkpoints and not r.witnessed:
            kind = FaultKind.witness_empty if self._witness_given else FaultKind.witness_missing
            what = "holds no checkpoint" if self._witness_given else "is missing"
            self._fail(
                Fault(
                    kind,
                    f"the log has {r.checkpoints} checkpoint(s) but the witness {what}: a "
                    "truncated or re-sealed log could not be told from a genuine one",
                )
            )
        elif first is not None and not self.allow_unsealed:
            last = r.latest.label() if r.latest else "the last checkpoint"
            self._fail(
                self._fault(
                    FaultKind.unsealed,
                    first,
                    f"{r.unsealed} record(s) after {last} are not sealed: no checkpoint proves "
                    "them (allow a tail the sealer has not reached yet with --allow-unsealed)",
                )
            )
        return r

    # --- witness ------------------------------------------------------------------------------

    def _pull_witness(self) -> Checkpoint | None:
        """The next witness copy, checked: signature, origin, tree-size order, one root a size."""
        for cp in self._witness:
            try:
                self._check_checkpoint(cp)
            except AuditError as exc:
                bad = isinstance(exc, SignatureError)
                kind = FaultKind.bad_signature if bad else FaultKind.malformed
                self._fail(Fault(kind, f"witness copy: {exc}"))
                return None
            prev = self._last_w
            if prev is not None and cp.tree_size < prev.tree_size:
                detail = f"witness copies out of order: {prev.label()}, then {cp.label()}"
                self._fail(Fault(FaultKind.malformed, detail))
                return None
            self.report.witnessed += 1
            if prev is not None and cp.tree_size == prev.tree_size:
                if cp.root_hash == prev.root_hash:
                    continue  # the same checkpoint twice
                detail = f"the witness holds two roots for {cp.tree_size} records"
                i = next(
                    (
                        j
                        for j in range(max(cp.hints_from, prev.hints_from), cp.tree_size)
                        if _hint_in(cp, j) != _hint_in(prev, j)
                    ),
                    None,
                )
                if i is None:
                    self._fail(Fault(FaultKind.forked, detail))
                else:
                    self._fail(self._fault(FaultKind.forked, i, f"{detail}; they diverge here"))
                return None
            self._last_w = cp
            return cp
        return None

    def _check_witness(self) -> None:
        """Check every witness copy whose size the log has reached."""
        while self.report.fault is None and self._next_w is not None:
            w = self._next_w
            if w.tree_size > self.size:
                return
            self._next_w = self._pull_witness()
            self._wsrc.append(w)
            root = self._root_at(w.tree_size)
            if root is None:  # a copy smaller than the window: the log holds more than it says
                self._fail(self._recheck(FaultKind.forked, w, None, "witness copy"))
            elif root == w.root:
                self._accept(w)
            else:  # a checkpoint on the log decides: fork (it vouches for them) or edited
                self._disputed.append(w)

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
        what = f"{cp.label()} at offset {entry.offset}"
        self._topic.append(cp)
        s = cp.tree_size
        root = self._root_at(s) if s <= self.size else None
        if s > self.size:
            self._fail(self._against_data(cp, self._topic, what, offset=entry.offset))
            return
        if root is None:
            kind = FaultKind.forked if s <= self._proven else FaultKind.edited
            self._fail(self._recheck(kind, cp, entry.offset, what))
            return
        if root != cp.root:
            if s <= self._proven:  # another signed checkpoint already vouches for these records
                detail = f"{what} is signed over another history than the records already proven"
                self._fail(self._diverge(cp, self._topic, detail, entry.offset))
            else:
                self._fail(self._against_data(cp, self._topic, what, offset=entry.offset))
            return
        # this checkpoint vouches for the records: a witness copy disagreeing is a fork
        for w in [w for w in self._disputed if w.tree_size <= s]:
            detail = (
                f"{what} is signed over a history the witness's checkpoint "
                f"{w.tree_size} does not contain"
            )
            self._fail(self._diverge(w, self._wsrc, detail, entry.offset))
            return
        self._accept(cp)

    def _accept(self, cp: Checkpoint) -> None:
        """``cp`` matches the records: everything below its size is proven."""
        r = self.report
        r.key_ids.add(cp.key_id)
        self._roots[cp.tree_size] = cp.root
        if len(self._roots) > RECENT_ROOTS:
            del self._roots[next(iter(self._roots))]
        if r.latest is None or cp.tree_size >= r.latest.tree_size:
            r.latest = cp
        if cp.tree_size > r.sealed:
            r.sealed = cp.tree_size
            r.sealed_offset = self._offset(cp.tree_size - 1)
        if cp.tree_size > self._proven:
            previous, self._proven = self._proven, cp.tree_size
            if self._disputed:
                return  # hold everything until a dispute is settled
            self._drop_below(previous)  # keep the last proven span: a rival of it is a fork

    # --- the window of held leaves -----------------------------------------------------------

    def _drop_below(self, new_start: int) -> None:
        if new_start <= self._start:
            return
        k = new_start - self._start
        for j in range(k):
            self._start_range.append(bytes(self._leaves[j * 32 : j * 32 + 32]))
        del self._leaves[: k * 32]
        del self._offsets[:k]
        for i in range(self._start, new_start):
            v = self._values.pop(i, None)
            if v is not None:
                self._value_bytes -= len(v)
        self._start = new_start
        self._topic = [c for c in self._topic if c.tree_size > new_start]
        self._wsrc = [c for c in self._wsrc if c.tree_size > new_start]

    def _trim(self) -> None:
        """Too many unproven leaves: drop the older half (a fault there needs a recheck)."""
        assert self._window_limit is not None
        if self._disputed:  # settle it while the leaves are still held
            w = self._disputed[0]
            self._fail(self._against_data(w, self._wsrc, "witness copy", end=False))
            return
        self._drop_below(self._start + max(1, self._window_limit // 2))

    def _held(self, i: int) -> bool:
        return self._start <= i < self.size or (
            self._keep is not None and self._keep[0] <= i < self._keep[0] + len(self._kept_offsets)
        )

    def _leaf(self, i: int) -> bytes:
        if self._start <= i < self.size:
            k = (i - self._start) * 32
            return bytes(self._leaves[k : k + 32])
        if self._held(i):
            assert self._keep is not None
            k = (i - self._keep[0]) * 32
            return bytes(self._kept[k : k + 32])
        raise _Unheld(i)

    def _offset(self, i: int) -> int | None:
        if self._start <= i < self.size:
            return self._offsets[i - self._start]
        if self._held(i):
            assert self._keep is not None
            return self._kept_offsets[i - self._keep[0]]
        return None

    def _root_at(self, s: int) -> bytes | None:
        """MTH of the first ``s`` leaves, if the verifier still holds what it takes."""
        if s == self.size:
            return self._range.root()
        if self._start <= s < self.size:
            r = self._start_range.copy()
            for k in range(0, (s - self._start) * 32, 32):
                r.append(bytes(self._leaves[k : k + 32]))
            return r.root()
        if self._kept_range is not None and self._keep is not None:
            lo = self._keep[0]
            if lo <= s <= lo + len(self._kept_offsets):
                r = self._kept_range.copy()
                for k in range(0, (s - lo) * 32, 32):
                    r.append(bytes(self._kept[k : k + 32]))
                return r.root()
        return self._roots.get(s)

    # --- locating ----------------------------------------------------------------------------

    def _hint(self, i: int) -> str:
        return self._leaf(i)[:HINT_BYTES].hex()

    def _against_data(
        self,
        cp: Checkpoint,
        sources: list[Checkpoint],
        what: str,
        end: bool = False,
        offset: int | None = None,
    ) -> Fault:
        """``cp``'s root is not the records': name the first record its hints disagree with."""
        size = self.size
        try:
            i = self._first_difference(cp, sources)
            if i is None:  # the hints agree but the root does not: name the checkpoint's range
                i = max(cp.hints_from, self._proven)
                if i < size and not self._held(i):
                    raise _Unheld(i)
                return self._fault(
                    FaultKind.edited, i, f"{what}: root differs in records it covers"
                )
            if i >= size:
                kind = FaultKind.truncated if end else FaultKind.missing
                detail = (
                    f"the log ends at {size} records but {what} covers {cp.tree_size}"
                    if end
                    else f"{what} covers {cp.tree_size} records, only {size} precede it"
                )
                return self._fault(kind, i, detail)
            return self._classify(i, cp, sources, what)
        except _Unheld:
            return self._recheck(FaultKind.edited, cp, offset, what)

    def _first_difference(self, cp: Checkpoint, sources: list[Checkpoint]) -> int | None:
        size = self.size
        for i in range(self._proven, cp.tree_size):
            expected = _expected(sources, i, cp)
            if expected is None:
                continue
            if i >= size or self._hint(i) != expected:
                return i
        return None

    def _classify(self, i: int, cp: Checkpoint, sources: list[Checkpoint], what: str) -> Fault:
        size = self.size

        def exp(j: int) -> str | None:
            return _expected(sources, j, cp)

        def act(j: int) -> str | None:
            return self._hint(j) if j < size and self._held(j) else None

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

    def _diverge(
        self, cp: Checkpoint, sources: list[Checkpoint], detail: str, offset: int | None
    ) -> Fault:
        """A validly signed ``cp`` disagrees with records another checkpoint vouches for: a fork,
        named at the first record where its hints and the records differ."""
        try:
            for i in range(cp.hints_from, min(cp.tree_size, self.size)):
                x = _expected(sources, i, cp)
                if x is not None and x != self._hint(i):
                    return self._fault(FaultKind.forked, i, f"{detail}; they diverge here", offset)
        except _Unheld:
            return self._recheck(FaultKind.forked, cp, offset, detail)
        return Fault(FaultKind.forked, detail, checkpoint_offset=offset)

    def _recheck(self, kind: FaultKind, cp: Checkpoint, offset: int | None, what: str) -> Fault:
        """A fault this pass cannot name: the leaves a second pass must hold to name it."""
        lo = min(cp.hints_from, self._proven)
        if self._keep is not None and self._keep[0] <= lo and cp.tree_size < self._keep[1]:
            return Fault(kind, f"{what}: does not match the records", checkpoint_offset=offset)
        return Fault(
            kind,
            f"{what}: covers records no longer held; re-read the log to name the record",
            checkpoint_offset=offset,
            recheck=(lo, cp.tree_size + 2),
        )

    # --- naming ------------------------------------------------------------------------------

    def _fault(
        self, kind: FaultKind, i: int | None, detail: str, checkpoint_offset: int | None = None
    ) -> Fault:
        if i is None:
            return Fault(kind, detail, checkpoint_offset=checkpoint_offset)
        value = self._values.get(i, self._kept_values.get(i))
        rid = record_id_of(value) if value is not None else None
        return Fault(kind, detail, i, self._offset(i), rid, checkpoint_offset)

    def _fail(self, fault: Fault) -> None:
        if self.report.fault is None:
            self.report.fault = fault

    # --- writers -----------------------------------------------------------------------------

    def _check_writer(self, entry: Entry) -> None:
        """List the message if no entitled writer signed it (broker.core.audit.writers)."""
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
            index = self.size  # the index this record is about to take
            report.unattributed_records.append(index)
            rid = record_id_of(entry.value)
            fault = Fault(FaultKind.unattributed, problem, index, entry.offset, rid)
        if len(report.unattributed) < UNATTRIBUTED_LIMIT:
            report.unattributed.append(fault)


def _fresh(source: Any, first: bool) -> Any:
    """An iteration of ``source``: a callable is called; on a second pass, a one-shot iterator
    (it cannot be read again) gives None."""
    if callable(source):
        return source()
    if first or source is None or iter(source) is not source:
        return source
    return None


def verify_log(
    entries: Iterable[Entry] | Callable[[], Iterable[Entry]],
    trusted: Mapping[str, Ed25519PublicKey],
    origin: str | None = None,
    witness: Iterable[Checkpoint] | Callable[[], Iterable[Checkpoint]] | None = (),
    progress: Callable[[int], None] | None = None,
    *,
    allow_unsealed: bool = False,
    require_witness: bool = False,
    window: int | None = WINDOW_LIMIT,
    registry: Registry | None = None,
) -> Report:
    """Verify a whole log; ``progress`` is called with the count of entries read every 10 000.

    ``entries`` and ``witness`` may be callables returning a fresh iteration, or collections:
    then a fault that needs a second pass to name its record gets one (a one-shot iterator
    cannot be read again, and its first-pass fault stands). With the key registry, who wrote
    each message is checked too (Report.unattributed)."""

    def run(keep: tuple[int, int] | None) -> Report | None:
        first = keep is None
        source, cps = _fresh(entries, first), _fresh(witness, first)
        if source is None or (witness is not None and cps is None):
            return None
        v = Verifier(
            trusted,
            origin,
            cps,
            allow_unsealed=allow_unsealed,
            require_witness=require_witness,
            window=window,
            keep=keep,
            registry=registry,
        )
        for n, entry in enumerate(source, 1):
            if v.add(entry):
                break
            if progress is not None and n % 10_000 == 0:
                progress(n)
        return v.finish()

    report = run(None)
    assert report is not None
    if report.fault is not None and report.fault.recheck is not None:
        return run(report.fault.recheck) or report
    return report
