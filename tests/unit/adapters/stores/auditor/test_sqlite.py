"""The SQLite driver: a private file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from broker.adapters.stores.auditor import AuditStore
from broker.testing import audit as drill
from tests.unit.adapters.stores.auditor.conftest import KEY


def test_the_store_file_is_private(tmp_path: Path) -> None:
    """0600 file in a 0700 folder, WAL files too; an existing 0644 file is tightened."""
    where = tmp_path / "new" / "audit.sqlite"
    with AuditStore.open(where) as s:
        s.execute("PRAGMA journal_mode=WAL")
        s.add(drill.build(3, KEY).entries)
        for path in (
            where,
            where.with_name("audit.sqlite-wal"),
            where.with_name("audit.sqlite-shm"),
        ):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(where.parent.stat().st_mode) == 0o700
    old = tmp_path / "old.sqlite"
    old.touch(mode=0o644)
    os.chmod(old, 0o644)
    AuditStore.open(old).close()
    assert stat.S_IMODE(old.stat().st_mode) == 0o600
