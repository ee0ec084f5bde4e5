"""The sealer's checkpoint-signing key: an Ed25519 private key in a PEM file, created 0600.

Distinct from the key registry's audit-writer keys (who wrote a message): this key signs the
checkpoints, and auditors trust its public half (`broker audit pubkey`).
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.adapters.stores.keyfiles import create_secret_file
from broker.core.errors import ConfigError


class KeyFileError(ConfigError):
    """The file holds something other than an Ed25519 private key."""


def load(path: Path) -> Ed25519PrivateKey | None:
    """The key in ``path``, or None if there is no such file (nothing is created)."""
    return _parse(path) if path.exists() else None


def load_or_create(path: Path) -> Ed25519PrivateKey:
    """The key in ``path``, created (0600, in a 0700 folder) on first use like the subject key."""
    if not path.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        create_secret_file(path, pem)
    return _parse(path)


def _parse(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: not an Ed25519 private key")
    return key
