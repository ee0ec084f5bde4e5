"""RFC 6962 / RFC 9162 Merkle tree: hashing, inclusion and consistency proofs, verification.

Leaves are hashed ``SHA-256(0x00 || data)`` and inner nodes ``SHA-256(0x01 || left || right)``,
so a leaf can never pass for a node. The tree keeps every complete (perfect, aligned) subtree
hash, 32 bytes each, in one bytearray per level: appending is amortised O(1), the root of any
earlier size and every proof are O(log n) look-ups, and a million leaves take about 64 MB.

Verification (``verify_inclusion``, ``verify_consistency``) follows RFC 9162 §2.1.3.2 and
§2.1.4.2 and needs only hashes: an auditor checks proofs offline, with no access to the log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from broker.core.audit.errors import ProofError, RootMismatch

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n ≥ 2): where RFC 6962 splits a tree."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """An append-only Merkle tree over leaf hashes (callers hash their data with leaf_hash)."""

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._levels: list[bytearray] = [bytearray()]
        self._size = 0
        for h in leaf_hashes:
            self.append_hash(h)

    def __len__(self) -> int:
        return self._size

    def append(self, data: bytes) -> int:
        """Append a leaf's data; return its index."""
        return self.append_hash(leaf_hash(data))

    def append_hash(self, h: bytes) -> int:
        if len(h) != HASH_SIZE:
            raise ValueError(f"leaf hash must be {HASH_SIZE} bytes, got {len(h)}")
        index = self._size
        self._levels[0] += h
        self._size += 1
        # complete every subtree this leaf closes: index+1 ends in k one-bits -> k merges
        level, i = 0, index
        while i & 1:
            row = self._levels[level]
            parent = node_hash(bytes(row[(i - 1) * 32 : i * 32]), bytes(row[i * 32 : i * 32 + 32]))
            if len(self._levels) == level + 1:
                self._levels.append(bytearray())
            self._levels[level + 1] += parent
            level, i = level + 1, i >> 1
        return index

    def leaf(self, index: int) -> bytes:
        """The leaf hash at ``index``."""
        if not 0 <= index < self._size:
            raise IndexError(f"leaf {index} outside a tree of {self._size}")
        return bytes(self._levels[0][index * 32 : index * 32 + 32])

    def _hash(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) for lo < hi ≤ size, using stored perfect subtrees."""
        n = hi - lo
        if n & (n - 1) == 0 and lo % n == 0:  # a perfect, aligned subtree: stored
            level = n.bit_length() - 1
            i = lo >> level
            return bytes(self._levels[level][i * 32 : i * 32 + 32])
        k = _split(n)
        return node_hash(self._hash(lo, lo + k), self._hash(lo + k, hi))

    def root(self, size: int | None = None) -> bytes:
        """The root hash of the first ``size`` leaves (default: all)."""
        size = self._size if size is None else size
        if not 0 <= size <= self._size:
            raise ValueError(f"size {size} outside a tree of {self._size}")
        return EMPTY_ROOT if size == 0 else self._hash(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """The audit path of leaf ``index`` in the tree of the first ``size`` leaves."""
        size = self._size if size is None else size
        if not 0 <= index < size <= self._size:
            raise ValueError(f"no leaf {index} in a tree of {size} (log holds {self._size})")
        proof: list[bytes] = []
        lo, hi = 0, size
        while hi - lo > 1:  # RFC 6962 PATH(m, D[n]), iteratively, collected leaf-first
            k = _split(hi - lo)
            if index < lo + k:
                proof.append(self._hash(lo + k, hi))
                hi = lo + k
            else:
                proof.append(self._hash(lo, lo + k))
                lo = lo + k
        proof.reverse()
        return proof

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        """RFC 6962 PROOF(m, D[n]): that the tree of ``old`` leaves is a prefix of ``new``."""
        new = self._size if new is None else new
        if not 0 <= old <= new <= self._size:
            raise ValueError(f"no consistency proof from {old} to {new} (log holds {self._size})")
        if old in (0, new):
            return []
        proof: list[bytes] = []
        lo, hi, m, whole = 0, new, old, True
        while True:  # SUBPROOF(m, D[lo:hi], whole), iteratively, collected root-first
            n = hi - lo
            if m == n:
                if not whole:
                    proof.append(self._hash(lo, hi))
                break
            k = _split(n)
            if m <= k:
                proof.append(self._hash(lo + k, hi))
                hi = lo + k
            else:
                proof.append(self._hash(lo, lo + k))
                lo, m, whole = lo + k, m - k, False
        proof.reverse()
        return proof


class CompactRange:
    """The perfect subtrees that cover leaves [0, size): at most log2(size) + 1 hashes.

    What a streaming verifier keeps instead of the tree (transparency-dev/merkle's
    ``compact.Range`` with begin 0): appending is amortised O(1), the root O(log n), and memory
    does not grow with the number of leaves. It answers the root at its own size only.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._hashes: list[bytes] = []
        self._size = 0
        for h in leaf_hashes:
            self.append(h)

    def __len__(self) -> int:
        return self._size

    def copy(self) -> CompactRange:
        c = CompactRange()
        c._hashes, c._size = list(self._hashes), self._size
        return c

    def append(self, h: bytes) -> None:
        """Append a leaf hash; merge every subtree it completes (trailing one-bits of size)."""
        hashes = self._hashes
        hashes.append(h)
        self._size += 1
        n = self._size
        while not n & 1:
            right = hashes.pop()
            hashes[-1] = node_hash(hashes[-1], right)
            n >>= 1

    def root(self) -> bytes:
        """MTH of the leaves: the subtrees folded from the right (RFC 6962 §2.1)."""
        if not self._hashes:
            return EMPTY_ROOT
        r = self._hashes[-1]
        for h in reversed(self._hashes[:-1]):
            r = node_hash(h, r)
        return r


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH straight from the RFC 6962 definition: the reference the tree is tested against."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = _split(n)
    return node_hash(root_of(leaf_hashes[:k]), root_of(leaf_hashes[k:]))


def _check_hashes(what: str, hashes: Iterable[bytes]) -> None:
    for h in hashes:
        if len(h) != HASH_SIZE:
            raise ProofError(f"{what}: every hash must be {HASH_SIZE} bytes")


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` leads to from leaf hash ``leaf`` at ``index`` (RFC 9162)."""
    if not 0 <= index < size:
        raise ProofError(f"inclusion proof: leaf {index} is not in a tree of {size}")
    _check_hashes("inclusion proof", [leaf, *proof])
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof: longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("inclusion proof: shorter than the tree is deep")
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise unless ``proof`` shows leaf hash ``leaf`` at ``index`` in the tree ``root``."""
    calculated = root_from_inclusion(index, size, leaf, proof)
    if calculated != root:
        raise RootMismatch(f"inclusion of leaf {index} in tree of {size}", root, calculated)


def _trivially_consistent(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Check the cases with no proof to walk; True if one applied and holds."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"consistency proof: sizes {old_size} -> {new_size} go backwards")
    _check_hashes("consistency proof", [old_root, new_root, *proof])
    if old_size == new_size:
        if proof:
            raise ProofError("consistency proof: must be empty between equal sizes")
        if old_root != new_root:
            raise RootMismatch(f"trees of equal size {new_size}", old_root, new_root)
        return True
    if old_size == 0:
        if proof:
            raise ProofError("consistency proof: must be empty from the empty tree")
        return True
    if not proof:
        raise ProofError("consistency proof: empty")
    return False


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Raise unless ``proof`` shows the tree ``old_root`` is a prefix of ``new_root`` (RFC 9162)."""
    if _trivially_consistent(old_size, new_size, old_root, new_root, proof):
        return
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof: longer than needed")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("consistency proof: shorter than needed")
    if fr != old_root:
        raise RootMismatch(f"consistency {old_size} -> {new_size}, old tree", old_root, fr)
    if sr != new_root:
        raise RootMismatch(f"consistency {old_size} -> {new_size}, new tree", new_root, sr)
