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

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from broker.core.audit import writers
from broker.core.audit.checkpoint import Checkpoint, verify_signature
from broker.core.audit.errors import AuditError, SignatureError
from broker.core.audit.events import Entry, record_id_of
from broker.core.audit.faults import Fault, FaultKind, Report
from broker.core.audit.locate import Locator, hint_in
from broker.core.audit.merkle import HASH_SIZE, CompactRange, leaf_hash
from broker.core.audit.window import LeafWindow
from broker.core.crypto.registry import Registry

WINDOW_LIMIT = 1 << 18  # unproven leaves held to locate a fault (~10 MB); older ones need a recheck
VALUE_BYTES = 16 << 20  # record values held in the window, to name a bad record's id
RECENT_ROOTS = 1024  # roots of the latest proven sizes, for checkpoints older than the window
UNATTRIBUTED_LIMIT = 1000  # unattributed messages listed; beyond it, counted


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
        self._window = LeafWindow(VALUE_BYTES, keep)  # leaves held to locate a fault
        self._proven = 0  # every leaf below this index is proven by a checkpoint
        self._roots: dict[int, bytes] = {}  # recent proven sizes -> roots
        self._topic: list[Checkpoint] = []  # topic checkpoints covering held leaves (hints)
        self._wsrc: list[Checkpoint] = []  # witness copies covering held leaves (hints)
        self._disputed: list[Checkpoint] = []  # witness copies the records do not give
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
        return self._window.held

    def root(self) -> bytes:
        """The root of every record read so far."""
        return self._range.root()

    def leaf_hashes(self, lo: int) -> list[bytes]:
        """The leaf hashes from ``lo`` to the end (held only from the window's start)."""
        return self._window.leaf_hashes(lo)

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
        self._window.append(offset, h, value, self._range)
        self._range.append(h)
        self.report.records += 1
        if self._next_w is not None and self._next_w.tree_size <= i + 1:
            self._check_witness()
        if self._window_limit is not None and len(self._window) > self._window_limit:
            self._trim()

    def finish(self) -> Report:
        """End of the log: check what the witness holds against what is there, then whether
        what was read is proven at all."""
        r = self.report
        if r.fault:
            return r
        for w in list(self._disputed):
            self._fail(self._locate().against_data(w, self._wsrc, "witness copy", end=True))
            return r
        if self._next_w is not None:
            self._fail(
                self._locate().against_data(self._next_w, self._wsrc, "witness copy", end=True)
            )
            return r
        first = r.sealed if r.sealed < r.records else None
        if r.records and not r.checkpoints:
            self._fail(
                self._locate().fault(
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
                self._locate().fault(
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
                        if hint_in(cp, j) != hint_in(prev, j)
                    ),
                    None,
                )
                if i is None:
                    self._fail(Fault(FaultKind.forked, detail))
                else:
                    self._fail(
                        self._locate().fault(FaultKind.forked, i, f"{detail}; they diverge here")
                    )
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
                self._fail(self._locate().recheck(FaultKind.forked, w, None, "witness copy"))
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
            self._fail(self._locate().against_data(cp, self._topic, what, offset=entry.offset))
            return
        if root is None:
            kind = FaultKind.forked if s <= self._proven else FaultKind.edited
            self._fail(self._locate().recheck(kind, cp, entry.offset, what))
            return
        if root != cp.root:
            if s <= self._proven:  # another signed checkpoint already vouches for these records
                detail = f"{what} is signed over another history than the records already proven"
                self._fail(self._locate().diverge(cp, self._topic, detail, entry.offset))
            else:
                self._fail(self._locate().against_data(cp, self._topic, what, offset=entry.offset))
            return
        # this checkpoint vouches for the records: a witness copy disagreeing is a fork
        for w in [w for w in self._disputed if w.tree_size <= s]:
            detail = (
                f"{what} is signed over a history the witness's checkpoint "
                f"{w.tree_size} does not contain"
            )
            self._fail(self._locate().diverge(w, self._wsrc, detail, entry.offset))
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
            r.sealed_offset = self._window.offset(cp.tree_size - 1)
        if cp.tree_size > self._proven:
            previous, self._proven = self._proven, cp.tree_size
            if self._disputed:
                return  # hold everything until a dispute is settled
            self._drop_below(previous)  # keep the last proven span: a rival of it is a fork

    # --- the window of held leaves -----------------------------------------------------------

    def _drop_below(self, new_start: int) -> None:
        if self._window.drop_below(new_start):
            self._topic = [c for c in self._topic if c.tree_size > new_start]
            self._wsrc = [c for c in self._wsrc if c.tree_size > new_start]

    def _trim(self) -> None:
        """Too many unproven leaves: drop the older half (a fault there needs a recheck)."""
        assert self._window_limit is not None
        if self._disputed:  # settle it while the leaves are still held
            w = self._disputed[0]
            self._fail(self._locate().against_data(w, self._wsrc, "witness copy", end=False))
            return
        self._drop_below(self._window.start + max(1, self._window_limit // 2))

    def _root_at(self, s: int) -> bytes | None:
        """MTH of the first ``s`` leaves, if the verifier still holds what it takes."""
        if s == self.size:
            return self._range.root()
        root = self._window.root_at(s)
        return root if root is not None else self._roots.get(s)

    def _locate(self) -> Locator:
        return Locator(self._window, self._proven)

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
