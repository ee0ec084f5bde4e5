"""Shared for the auditor store's tests: a sealed drill log and SQLite stores holding it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.adapters.stores.auditor import AuditStore, Syncer
from broker.core.audit.checkpoint import trusted_keys
from broker.testing import audit as drill

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
TRUSTED = trusted_keys(KEY.public_key())
N = 35


@pytest.fixture(scope="module")
def log() -> drill.Log:
    return drill.build(N, KEY, every=10)


@pytest.fixture
def store(tmp_path: Path, log: drill.Log) -> Iterator[AuditStore]:
    with AuditStore.open(tmp_path / "audit.sqlite") as s:
        syncer = Syncer(s, TRUSTED, drill.ORIGIN, log.witness)
        assert syncer.check_stored() is None
        assert syncer.add(log.entries) is None
        yield s


def store_with(tmp_path: Path, values: list[bytes]) -> AuditStore:
    """A SQLite store holding ``values`` sealed every 5 records."""
    s = AuditStore.open(tmp_path / "q.sqlite")
    s.add(drill.seal_all(values, KEY, every=5).entries)
    return s


def forge_recipient(tmp_path: Path, index: int = 6) -> tuple[AuditStore, drill.Log]:
    """A sealed store of 10 school records whose record ``index`` has only its recipient column
    changed to 'salto' (its bytes, and so the Merkle tree, untouched)."""
    log = drill.seal_all([drill.record_value(i) for i in range(10)], KEY, every=5)
    s = AuditStore.open(tmp_path / "forged.sqlite")
    assert Syncer(s, TRUSTED, drill.ORIGIN, log.witness).add(log.entries) is None
    drill.store_edit_column(s, index, "recipient", "salto")
    return s, log
