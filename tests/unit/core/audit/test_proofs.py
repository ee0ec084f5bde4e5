"""Proof bundles: what `broker audit prove` prints and `check-proof` checks offline."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.core.audit.checkpoint import Checkpoint, trusted_keys
from broker.core.audit.errors import AuditError, ProofError, RootMismatch, SignatureError
from broker.core.audit.merkle import MerkleTree
from broker.core.audit.proofs import check_bundle, consistency_bundle, inclusion_bundle
from broker.testing import audit as drill

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
TRUSTED = trusted_keys(KEY.public_key())


@pytest.fixture(scope="module")
def sealed() -> tuple[list[Checkpoint], list[bytes]]:
    log = drill.build(23, KEY, every=10)
    return log.witness, [e.value for e in drill.records(log)]


def _tree(values: list[bytes]) -> MerkleTree:
    tree = MerkleTree()
    for v in values:
        tree.append(v)
    return tree


def _inclusion(sealed: Any, index: int = 13) -> dict[str, Any]:
    witness, values = sealed
    return inclusion_bundle(_tree(values), index, values[index], witness[-1])


def test_an_inclusion_bundle_checks_with_the_key_alone(sealed: Any) -> None:
    """Record 13 is proven to be in the sealed log of 23."""
    assert check_bundle(_inclusion(sealed), TRUSTED).startswith("record #13 is in the log of 23")


def test_an_inclusion_bundle_with_an_edited_record_fails(sealed: Any) -> None:
    """Changing the record's bytes leads to another root."""
    bundle = _inclusion(sealed)
    value = bytearray(base64.b64decode(bundle["record"]))
    value[50] ^= 1
    bundle["record"] = base64.b64encode(bytes(value)).decode()
    with pytest.raises(RootMismatch):
        check_bundle(bundle, TRUSTED)


def test_an_inclusion_bundle_under_an_untrusted_key_fails(sealed: Any) -> None:
    """The proof is only as good as the checkpoint's signature."""
    with pytest.raises(SignatureError):
        check_bundle(_inclusion(sealed), trusted_keys(OTHER.public_key()))


def test_an_inclusion_bundle_with_a_wrong_index_fails(sealed: Any) -> None:
    """The same path does not prove the record at another position."""
    bundle = _inclusion(sealed)
    bundle["leaf_index"] = 12
    with pytest.raises(ProofError):
        check_bundle(bundle, TRUSTED)


def test_a_consistency_bundle_checks_and_a_forged_one_fails(sealed: Any) -> None:
    """Checkpoint 10 is a prefix of checkpoint 23; against another history it is not."""
    witness, values = sealed
    bundle = consistency_bundle(_tree(values), witness[0], witness[-1])
    assert "is a prefix of" in check_bundle(bundle, TRUSTED)
    rewritten = drill.fork(drill.build(23, KEY, every=10), 4, KEY)  # re-sealed, validly signed
    resealed = [e for e in rewritten.entries if e.is_checkpoint][-1]
    forked = copy.deepcopy(bundle)
    forked["new"] = json.loads(resealed.value)
    assert forked["new"]["tree_size"] == 23
    with pytest.raises(RootMismatch):
        check_bundle(forked, TRUSTED)


def test_a_bundle_of_unknown_format_is_refused() -> None:
    """Anything else is named as such, not half-checked."""
    with pytest.raises(AuditError, match="format"):
        check_bundle({"format": "x"}, TRUSTED)


def test_a_bundle_for_a_value_the_log_does_not_hold_is_not_made(sealed: Any) -> None:
    """prove refuses to make a bundle for bytes that are not the leaf."""
    witness, values = sealed
    with pytest.raises(ProofError, match="not the leaf"):
        inclusion_bundle(_tree(values), 3, values[4], witness[-1])
