"""Proof bundles an auditor takes away and checks offline with the public key alone.

* inclusion: one audit record's bytes, its index, the audit path and the signed checkpoint;
* consistency: two signed checkpoints and the proof that the older is a prefix of the newer.

A bundle is JSON; ``check_bundle`` needs nothing but the bundle and the trusted keys.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from broker.core.audit.checkpoint import Checkpoint, verify_signature
from broker.core.audit.errors import ProofError
from broker.core.audit.merkle import MerkleTree, leaf_hash, verify_consistency, verify_inclusion

INCLUSION = "oslo-share-broker/inclusion-proof/v1"
CONSISTENCY = "oslo-share-broker/consistency-proof/v1"


def inclusion_bundle(
    tree: MerkleTree, index: int, value: bytes, checkpoint: Checkpoint
) -> dict[str, Any]:
    if leaf_hash(value) != tree.leaf(index):
        raise ProofError(f"record #{index}: the value given is not the leaf the log holds")
    return {
        "format": INCLUSION,
        "leaf_index": index,
        "record": base64.b64encode(value).decode(),
        "proof": [h.hex() for h in tree.inclusion_proof(index, checkpoint.tree_size)],
        "checkpoint": checkpoint_dict(checkpoint),
    }


def consistency_bundle(tree: MerkleTree, old: Checkpoint, new: Checkpoint) -> dict[str, Any]:
    return {
        "format": CONSISTENCY,
        "proof": [h.hex() for h in tree.consistency_proof(old.tree_size, new.tree_size)],
        "old": checkpoint_dict(old),
        "new": checkpoint_dict(new),
    }


def checkpoint_dict(cp: Checkpoint) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(cp.to_json())
    return data


def _hashes(values: Any, what: str) -> list[bytes]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ProofError(f"{what}: must be a list of hex strings")
    try:
        return [bytes.fromhex(v) for v in values]
    except ValueError:
        raise ProofError(f"{what}: not hex") from None


def check_bundle(bundle: Mapping[str, Any], trusted: Mapping[str, Ed25519PublicKey]) -> str:
    """Verify a bundle; return what it proves, or raise an AuditError saying why not."""
    kind = bundle.get("format")
    if kind == INCLUSION:
        cp = Checkpoint.from_json(bundle.get("checkpoint") or {})
        verify_signature(cp, trusted)
        index = bundle.get("leaf_index")
        if not isinstance(index, int):
            raise ProofError("leaf_index: must be an integer")
        try:
            value = base64.b64decode(str(bundle.get("record")), validate=True)
        except ValueError:
            raise ProofError("record: not base64") from None
        verify_inclusion(
            index, cp.tree_size, leaf_hash(value), _hashes(bundle.get("proof"), "proof"), cp.root
        )
        return f"record #{index} is in the log of {cp.tree_size} records sealed at {cp.time}"
    if kind == CONSISTENCY:
        old = Checkpoint.from_json(bundle.get("old") or {})
        new = Checkpoint.from_json(bundle.get("new") or {})
        verify_signature(old, trusted)
        verify_signature(new, trusted)
        if old.origin != new.origin:
            raise ProofError("the two checkpoints are of different logs")
        verify_consistency(
            old.tree_size, new.tree_size, old.root, new.root, _hashes(bundle.get("proof"), "proof")
        )
        return (
            f"the log of {old.tree_size} records ({old.time}) is a prefix of the log of "
            f"{new.tree_size} records ({new.time})"
        )
    raise ProofError(f"format: expected {INCLUSION} or {CONSISTENCY}")
