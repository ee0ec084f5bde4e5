"""RFC 6962 Merkle tree: known roots and proofs, and every proof verifying (or not)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.core.audit.errors import ProofError, RootMismatch
from broker.core.audit.merkle import (
    EMPTY_ROOT,
    CompactRange,
    MerkleTree,
    leaf_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)

# The RFC 6962 test inputs used by Certificate Transparency and transparency-dev/merkle.
INPUTS = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    bytes(range(0x50, 0x58)),
    bytes(range(0x60, 0x70)),
]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CONSISTENCY_3_8 = [
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
]


def _tree(n: int) -> MerkleTree:
    return MerkleTree(leaf_hash(i.to_bytes(4, "big")) for i in range(n))


def test_empty_tree_root_is_hash_of_nothing() -> None:
    """RFC 6962: the root of the empty tree is SHA-256 of the empty string."""
    assert MerkleTree().root() == EMPTY_ROOT == hashlib.sha256(b"").digest()


@pytest.mark.parametrize("n", range(1, 9))
def test_roots_match_the_rfc6962_test_vectors(n: int) -> None:
    """The incremental tree gives CT's published roots for every size 1..8."""
    tree = MerkleTree()
    for data in INPUTS:
        tree.append(data)
    assert tree.root(n).hex() == ROOTS[n - 1]


def test_leaf_and_node_are_domain_separated() -> None:
    """A leaf hash is SHA-256 over 0x00 || data, never the bare hash."""
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest() != hashlib.sha256(b"x").digest()


def test_consistency_proof_matches_the_rfc6962_test_vector() -> None:
    """PROOF(3, D[8]) is the published four-hash path."""
    tree = MerkleTree()
    for data in INPUTS:
        tree.append(data)
    assert [h.hex() for h in tree.consistency_proof(3, 8)] == CONSISTENCY_3_8


@given(st.integers(1, 300), st.data())
def test_incremental_root_equals_the_definition(n: int, data: st.DataObject) -> None:
    """root(size) of the stored tree equals MTH computed from the RFC's recursive definition."""
    tree = _tree(n)
    size = data.draw(st.integers(0, n))
    assert tree.root(size) == root_of([tree.leaf(i) for i in range(size)])


@given(st.integers(1, 300), st.data())
def test_every_inclusion_proof_verifies(n: int, data: st.DataObject) -> None:
    """An inclusion proof for any leaf of any earlier size verifies against that size's root."""
    tree = _tree(n)
    size = data.draw(st.integers(1, n))
    index = data.draw(st.integers(0, size - 1))
    proof = tree.inclusion_proof(index, size)
    verify_inclusion(index, size, tree.leaf(index), proof, tree.root(size))


@given(st.integers(1, 300), st.data())
def test_every_consistency_proof_verifies(n: int, data: st.DataObject) -> None:
    """A consistency proof between any two sizes verifies against their roots."""
    tree = _tree(n)
    new = data.draw(st.integers(0, n))
    old = data.draw(st.integers(0, new))
    proof = tree.consistency_proof(old, new)
    verify_consistency(old, new, tree.root(old), tree.root(new), proof)


def test_inclusion_of_another_leaf_fails_with_both_roots() -> None:
    """A proof for leaf 3 does not prove leaf 4's hash: expected and calculated roots differ."""
    tree = _tree(10)
    proof = tree.inclusion_proof(3)
    with pytest.raises(RootMismatch) as info:
        verify_inclusion(3, 10, tree.leaf(4), proof, tree.root())
    assert info.value.expected == tree.root()
    assert info.value.calculated != tree.root()


def test_inclusion_proof_of_wrong_length_is_rejected() -> None:
    """A truncated or padded audit path is malformed, not merely mismatched."""
    tree = _tree(10)
    proof = tree.inclusion_proof(3)
    with pytest.raises(ProofError, match="shorter"):
        verify_inclusion(3, 10, tree.leaf(3), proof[:-1], tree.root())
    with pytest.raises(ProofError, match="longer"):
        verify_inclusion(3, 10, tree.leaf(3), [*proof, proof[0]], tree.root())


def test_inclusion_index_outside_tree_is_rejected() -> None:
    """Leaf 10 is not in a tree of 10."""
    tree = _tree(10)
    with pytest.raises(ProofError, match="not in a tree"):
        verify_inclusion(10, 10, tree.leaf(9), [], tree.root())


def test_consistency_with_a_rewritten_prefix_fails() -> None:
    """A longer tree whose first leaves differ is not an extension of the old one."""
    old, new = _tree(5), _tree(9)
    forked = MerkleTree([leaf_hash(b"other"), *(new.leaf(i) for i in range(1, 9))])
    proof = forked.consistency_proof(5, 9)
    with pytest.raises(RootMismatch):
        verify_consistency(5, 9, old.root(), forked.root(), proof)


def test_consistency_between_equal_sizes_needs_equal_roots() -> None:
    """Two trees of one size with different roots are a fork."""
    with pytest.raises(RootMismatch):
        verify_consistency(4, 4, _tree(4).root(), _tree(5).root(4)[::-1], [])


def test_empty_consistency_proof_between_different_sizes_is_rejected() -> None:
    """No proof proves nothing."""
    tree = _tree(8)
    with pytest.raises(ProofError, match="empty"):
        verify_consistency(3, 8, tree.root(3), tree.root(8), [])


def test_proof_requests_outside_the_tree_are_refused() -> None:
    """Asking for a size the log has not reached is a caller error."""
    tree = _tree(4)
    with pytest.raises(ValueError, match="outside"):
        tree.root(5)
    with pytest.raises(ValueError, match="no consistency"):
        tree.consistency_proof(2, 5)


def test_the_compact_range_gives_every_root_the_tree_does() -> None:
    """The streaming verifier's O(log n) state: same root as the full tree at every size."""
    tree, cr = MerkleTree(), CompactRange()
    assert cr.root() == tree.root()
    for i in range(130):
        h = leaf_hash(f"leaf {i}".encode())
        tree.append_hash(h)
        cr.append(h)
        assert cr.root() == tree.root(), i
        assert len(cr._hashes) == bin(i + 1).count("1")  # one hash per perfect subtree
    assert cr.copy().root() == cr.root()
