"""Signed checkpoints: "the log named ORIGIN had SIZE records with root ROOT at TIME".

A checkpoint is signed with Ed25519 over the RFC 8785 canonical JSON of every field but the
signature, so any JSON library can re-create the signed bytes. Besides the tree head it carries
``leaf_hints``: the first 8 bytes of each leaf hash it adds to the previous checkpoint. They are
signed too, and let a verifier name the first bad record (edited, missing, moved) instead of only
saying that a root differs; the root remains what proves integrity.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from broker.core.audit.errors import AuditError, SignatureError
from broker.core.times import utc_z

HINT_BYTES = 8
FORMAT = "oslo-share-broker/checkpoint/v1"


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short, stable name for a public key: the first 8 bytes of SHA-256 of its raw bytes."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_pem(data: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(data)
    if not isinstance(key, Ed25519PublicKey):
        raise SignatureError("public key: not an Ed25519 key")
    return key


def hints_of(leaf_hashes: Sequence[bytes]) -> str:
    return "".join(h[:HINT_BYTES].hex() for h in leaf_hashes)


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    tree_size: int
    root_hash: str
    time: str
    key_id: str
    hints_from: int
    leaf_hints: str
    signature: str = ""
    format: str = FORMAT

    @property
    def root(self) -> bytes:
        return bytes.fromhex(self.root_hash)

    def hints(self) -> list[str]:
        """The leaf hints, one hex string per leaf from ``hints_from`` to ``tree_size``."""
        w = HINT_BYTES * 2
        return [self.leaf_hints[i : i + w] for i in range(0, len(self.leaf_hints), w)]

    def signed_bytes(self) -> bytes:
        body = asdict(self)
        del body["signature"]
        return rfc8785.dumps(body)

    def to_json(self) -> bytes:
        """The checkpoint as published on the audit topic and kept by witnesses (RFC 8785)."""
        return rfc8785.dumps(asdict(self))

    def summary(self) -> dict[str, Any]:
        """What a person checks a checkpoint by: size, root, time, signing key."""
        return {
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "time": self.time,
            "key_id": self.key_id,
        }

    def label(self) -> str:
        return f"checkpoint {self.tree_size} ({self.root_hash[:12]}…, {self.time})"

    @classmethod
    def from_json(cls, value: bytes | str | Mapping[str, Any]) -> Checkpoint:
        """Parse a checkpoint; raise AuditError naming the field that is wrong."""
        try:
            data = json.loads(value) if isinstance(value, bytes | str) else dict(value)
        except ValueError:
            raise AuditError("checkpoint: not JSON") from None
        if not isinstance(data, dict):
            raise AuditError("checkpoint: not a JSON object")
        fields = {
            "origin": str,
            "tree_size": int,
            "root_hash": str,
            "time": str,
            "key_id": str,
            "hints_from": int,
            "leaf_hints": str,
            "signature": str,
            "format": str,
        }
        for name, kind in fields.items():
            if not isinstance(data.get(name), kind) or isinstance(data.get(name), bool):
                raise AuditError(f"checkpoint: field {name} missing or not {kind.__name__}")
        unknown = set(data) - set(fields)
        if unknown:
            raise AuditError(f"checkpoint: unknown fields {', '.join(sorted(unknown))}")
        cp = cls(**{k: data[k] for k in fields})
        if cp.format != FORMAT:
            raise AuditError(f"checkpoint: format must be {FORMAT}")
        if len(cp.root_hash) != 64 or any(c not in "0123456789abcdef" for c in cp.root_hash):
            raise AuditError("checkpoint: root_hash must be 64 lowercase hex digits")
        if not 0 <= cp.hints_from <= cp.tree_size:
            raise AuditError("checkpoint: hints_from must lie between 0 and tree_size")
        if len(cp.leaf_hints) != (cp.tree_size - cp.hints_from) * HINT_BYTES * 2:
            raise AuditError("checkpoint: leaf_hints must hold one hint per added leaf")
        return cp


def sign(
    key: Ed25519PrivateKey,
    *,
    origin: str,
    tree_size: int,
    root: bytes,
    when: datetime,
    hints_from: int,
    added_leaf_hashes: Sequence[bytes],
) -> Checkpoint:
    if when.tzinfo is None:
        raise ValueError("checkpoint time must carry a time zone")
    if len(added_leaf_hashes) != tree_size - hints_from:
        raise ValueError("one leaf hash per leaf added since hints_from")
    unsigned = Checkpoint(
        origin=origin,
        tree_size=tree_size,
        root_hash=root.hex(),
        time=utc_z(when),
        key_id=key_id(key.public_key()),
        hints_from=hints_from,
        leaf_hints=hints_of(added_leaf_hashes),
    )
    signature = key.sign(unsigned.signed_bytes())
    return replace(unsigned, signature=base64.b64encode(signature).decode())


def verify_signature(cp: Checkpoint, trusted: Mapping[str, Ed25519PublicKey]) -> None:
    """Raise SignatureError unless a trusted key signed exactly this checkpoint."""
    key = trusted.get(cp.key_id)
    if key is None or key_id(key) != cp.key_id:
        raise SignatureError(f"{cp.label()}: signed by untrusted key {cp.key_id}")
    try:
        key.verify(base64.b64decode(cp.signature, validate=True), cp.signed_bytes())
    except (InvalidSignature, ValueError):
        raise SignatureError(f"{cp.label()}: signature does not verify") from None


def trusted_keys(*keys: Ed25519PublicKey) -> dict[str, Ed25519PublicKey]:
    return {key_id(k): k for k in keys}
