"""The data-key store on SQLite: a private file that keeps no destroyed key, shared by the
worker and `broker retention purge`. (What every store does: tests/unit/core/test_retention.py.)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from broker.adapters.stores.datakeys import SqliteDataKeyStore

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def test_sqlite_store_is_0600_and_overwrites_destroyed_keys(tmp_path: Path) -> None:
    """The file is private to its owner, and a destroyed key's bytes are gone from it."""
    path = tmp_path / "keys" / "data-keys.sqlite3"

    def on_disk() -> bytes:  # the database and its write-ahead log
        wal = path.with_name(path.name + "-wal")
        return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")

    with SqliteDataKeyStore(path) as store:
        key = store.data_key("n-1", "incident", T0)
        store.data_key("n-2", "incident", T0)
        assert key in on_disk()  # the check has teeth: stored keys are findable
        store.destroy(["n-1"], T0 + DAY)
        assert key not in on_disk()
    assert (path.stat().st_mode & 0o777) == 0o600
    assert (path.parent.stat().st_mode & 0o777) == 0o700
    assert key not in on_disk()


def test_sqlite_store_is_shared_by_the_worker_and_the_purge_command(tmp_path: Path) -> None:
    """The worker and `broker retention purge` open the same file: each sees the other's writes."""
    path = tmp_path / "dk.sqlite3"
    with SqliteDataKeyStore(path) as worker, SqliteDataKeyStore(path) as cli:
        key = worker.data_key("n-1", "incident", T0)
        assert cli.lookup("n-1") == key
        cli.destroy(["n-1"], T0 + DAY)
        assert worker.lookup("n-1") is None
        assert [e.destroyed_at for e in worker.entries()] == [T0 + DAY]
