"""The leaves a verifier still holds: a window from the last proven span to the end of the log,
and optionally a kept range that a second pass must hold whatever happens.

The window's end is always the log's end (every leaf is appended, leaves are dropped only from
the front), so ``end`` is the log's size. Hashes are packed 32 bytes a leaf, offsets in an
``array``, and values only up to a byte budget: enough to name a faulty record's id.
"""

from __future__ import annotations

from array import array

from broker.core.audit.merkle import HASH_SIZE, CompactRange


class Unheld(Exception):
    """A check needs a leaf the window no longer holds."""


class _Span:
    """Leaves ``[start, start + len(offsets))``, with the compact range of those before them."""

    def __init__(self, start: int, before: CompactRange) -> None:
        self.start = start
        self.before = before
        self.hashes = bytearray()
        self.offsets = array("q")
        self.values: dict[int, bytes] = {}

    def __len__(self) -> int:
        return len(self.offsets)

    def __contains__(self, i: int) -> bool:
        return self.start <= i < self.start + len(self.offsets)

    def hash(self, i: int) -> bytes:
        k = (i - self.start) * HASH_SIZE
        return bytes(self.hashes[k : k + HASH_SIZE])

    def root(self, s: int) -> bytes:
        """MTH of the first ``s`` leaves of the log, ``start <= s <= end``."""
        r = self.before.copy()
        for k in range(0, (s - self.start) * HASH_SIZE, HASH_SIZE):
            r.append(bytes(self.hashes[k : k + HASH_SIZE]))
        return r.root()


class LeafWindow:
    """``append`` every leaf in order; ``drop_below`` once a checkpoint proves the older ones."""

    def __init__(self, value_budget: int, keep: tuple[int, int] | None = None) -> None:
        self._window = _Span(0, CompactRange())
        self._value_budget = value_budget
        self._value_bytes = 0
        self.keep = keep
        self._kept: _Span | None = None

    @property
    def start(self) -> int:
        return self._window.start

    @property
    def end(self) -> int:
        return self._window.start + len(self._window)

    def __len__(self) -> int:
        """Leaves held in the window (not counting the kept range)."""
        return len(self._window)

    @property
    def held(self) -> int:
        """Leaves whose hashes are held (the window and any kept range): bounded, not n."""
        return len(self._window) + (len(self._kept) if self._kept is not None else 0)

    def append(self, offset: int, h: bytes, value: bytes | None, before: CompactRange) -> None:
        """Hold leaf number ``end``; ``before`` is the log's compact range without it."""
        i = self.end
        if self.keep is not None and self.keep[0] <= i < self.keep[1]:
            if i == self.keep[0]:
                self._kept = _Span(i, before.copy())
            assert self._kept is not None
            self._kept.hashes += h
            self._kept.offsets.append(offset)
            if value is not None:
                self._kept.values[i] = value
        w = self._window
        w.hashes += h
        w.offsets.append(offset)
        if value is not None and self._value_bytes + len(value) <= self._value_budget:
            w.values[i] = value
            self._value_bytes += len(value)

    def drop_below(self, new_start: int) -> bool:
        """Forget the window's leaves below ``new_start``; False if there were none."""
        w = self._window
        if new_start <= w.start:
            return False
        k = new_start - w.start
        for j in range(k):
            w.before.append(bytes(w.hashes[j * HASH_SIZE : (j + 1) * HASH_SIZE]))
        del w.hashes[: k * HASH_SIZE]
        del w.offsets[:k]
        for i in range(w.start, new_start):
            v = w.values.pop(i, None)
            if v is not None:
                self._value_bytes -= len(v)
        w.start = new_start
        return True

    def holds(self, i: int) -> bool:
        return i in self._window or (self._kept is not None and i in self._kept)

    def leaf(self, i: int) -> bytes:
        """Leaf ``i``'s hash; raises Unheld if it is no longer held."""
        if i in self._window:
            return self._window.hash(i)
        if self._kept is not None and i in self._kept:
            return self._kept.hash(i)
        raise Unheld(i)

    def leaf_hashes(self, lo: int) -> list[bytes]:
        """The leaf hashes from ``lo`` to the end (held only from the window's start)."""
        if lo < self.start:
            raise ValueError(f"leaves before #{self.start} are no longer held")
        return [self._window.hash(i) for i in range(lo, self.end)]

    def offset(self, i: int) -> int | None:
        for span in (self._window, self._kept):
            if span is not None and i in span:
                return span.offsets[i - span.start]
        return None

    def value(self, i: int) -> bytes | None:
        v = self._window.values.get(i)
        if v is None and self._kept is not None:
            v = self._kept.values.get(i)
        return v

    def root_at(self, s: int) -> bytes | None:
        """MTH of the first ``s`` leaves, if what it takes is held (``s < end``)."""
        if self.start <= s < self.end:
            return self._window.root(s)
        k = self._kept
        if k is not None and k.start <= s <= k.start + len(k):
            return k.root(s)
        return None
