"""Signed checkpoints: canonical bytes, Ed25519 signatures, strict parsing."""

from __future__ import annotations

import base64
import dataclasses
import json
from typing import Any, cast

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.core.audit.checkpoint import (
    Checkpoint,
    key_id,
    load_public_pem,
    public_pem,
    sign,
    trusted_keys,
    verify_signature,
)
from broker.core.audit.errors import AuditError, SignatureError
from broker.core.audit.merkle import MerkleTree, leaf_hash
from broker.testing.audit import T0

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))


def _checkpoint(key: Ed25519PrivateKey = KEY) -> Checkpoint:
    tree = MerkleTree(leaf_hash(bytes([i])) for i in range(5))
    return sign(
        key,
        origin="o",
        tree_size=5,
        root=tree.root(),
        when=T0,
        hints_from=2,
        added_leaf_hashes=[tree.leaf(i) for i in range(2, 5)],
    )


def test_signed_checkpoint_verifies_with_the_public_key_alone() -> None:
    """An auditor holding only the exported PEM can check a checkpoint."""
    cp = _checkpoint()
    pub = load_public_pem(public_pem(KEY.public_key()))
    verify_signature(Checkpoint.from_json(cp.to_json()), trusted_keys(pub))


def test_signed_bytes_are_rfc8785_without_the_signature() -> None:
    """Any JCS implementation re-creates the bytes that were signed."""
    cp = _checkpoint()
    body = json.loads(cp.to_json())
    del body["signature"]
    assert cp.signed_bytes() == rfc8785.dumps(body)
    assert cp.to_json() == rfc8785.dumps(json.loads(cp.to_json()))


@pytest.mark.parametrize(
    ("field", "value"),
    [("tree_size", 6), ("root_hash", "0" * 64), ("time", "2026-11-26T12:00:01.000000Z")],
)
def test_changing_any_signed_field_breaks_the_signature(field: str, value: object) -> None:
    """Size, root and time are all covered by the signature."""
    cp = _checkpoint()
    forged = dataclasses.replace(cp, **{field: cast(Any, value)})
    if field == "tree_size":
        forged = dataclasses.replace(forged, leaf_hints=forged.leaf_hints + "00" * 8)
    with pytest.raises(SignatureError, match="does not verify"):
        verify_signature(forged, trusted_keys(KEY.public_key()))


def test_a_checkpoint_by_an_untrusted_key_is_rejected() -> None:
    """A valid signature by a key the auditor does not trust proves nothing."""
    with pytest.raises(SignatureError, match="untrusted key"):
        verify_signature(_checkpoint(OTHER), trusted_keys(KEY.public_key()))


def test_a_signature_by_another_key_claiming_the_real_key_id_is_rejected() -> None:
    """Re-signing with another key while keeping the key id fails verification."""
    cp = _checkpoint()
    forged = dataclasses.replace(
        cp, signature=base64.b64encode(OTHER.sign(cp.signed_bytes())).decode()
    )
    with pytest.raises(SignatureError, match="does not verify"):
        verify_signature(forged, trusted_keys(KEY.public_key()))


def test_key_id_is_stable_and_distinct() -> None:
    """Key ids name keys: the same key always, different keys differently."""
    assert key_id(KEY.public_key()) == key_id(KEY.public_key()) != key_id(OTHER.public_key())
    assert len(key_id(KEY.public_key())) == 16


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tree_size": "5"}, "tree_size"),
        ({"root_hash": "XYZ"}, "root_hash"),
        ({"leaf_hints": "00"}, "leaf_hints"),
        ({"extra": 1}, "unknown fields"),
        ({"format": "v0"}, "format"),
        ({"hints_from": 9}, "hints_from"),
    ],
)
def test_malformed_checkpoints_name_the_field(change: dict[str, object], message: str) -> None:
    """Parsing rejects wrong types, unknown fields and inconsistent hints, naming the field."""
    data = json.loads(_checkpoint().to_json())
    data.update(change)
    with pytest.raises(AuditError, match=message):
        Checkpoint.from_json(json.dumps(data))


def test_checkpoint_that_is_not_json_is_rejected() -> None:
    """Garbage is named as such."""
    with pytest.raises(AuditError, match="not JSON"):
        Checkpoint.from_json(b"{not json")


def test_hints_hold_one_entry_per_added_leaf() -> None:
    """Hints are the 8-byte prefixes of the leaves added since hints_from."""
    cp = _checkpoint()
    assert cp.hints() == [leaf_hash(bytes([i]))[:8].hex() for i in range(2, 5)]
