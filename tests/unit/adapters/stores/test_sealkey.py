"""The checkpoint-signing key file: created 0600 on first use, the same key ever after, and a
file holding another kind of key refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key

from broker.adapters.stores import sealkey
from broker.core.audit import key_id
from tests.conftest import file_mode


def test_the_key_is_created_once_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "audit-signing.pem"
    assert sealkey.load(path) is None  # loading alone creates nothing
    assert not path.exists()
    key = sealkey.load_or_create(path)
    assert file_mode(path) == 0o600
    assert file_mode(path.parent) == 0o700
    again = sealkey.load(path)
    assert again is not None
    assert key_id(again.public_key()) == key_id(key.public_key())
    assert key_id(sealkey.load_or_create(path).public_key()) == key_id(key.public_key())


def test_a_file_with_another_kind_of_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ec.pem"
    path.write_bytes(
        generate_private_key(SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    for load in (sealkey.load, sealkey.load_or_create):
        with pytest.raises(sealkey.KeyFileError, match=rf"^{path}: not an Ed25519 private key$"):
            load(path)
