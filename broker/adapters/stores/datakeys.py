"""The data-key store on SQLite: one file shared by the worker and `broker retention purge`
(the DataKeyStore of broker.core.retention)."""

from __future__ import annotations

import os
import secrets
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from broker.core.errors import ConfigError
from broker.core.retention import DataKeyEntry, key_destroyed

_SCHEMA = """
CREATE TABLE IF NOT EXISTS data_keys (
    notice_id    TEXT PRIMARY KEY,
    notice_type  TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    data_key     BLOB,          -- NULL once destroyed
    destroyed_at TEXT
)
"""


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class SqliteDataKeyStore:
    """A DataKeyStore in one SQLite file (mode 0600, directory 0700), shared by the worker and
    `broker retention purge`. ``secure_delete`` overwrites a destroyed key's bytes in the file;
    what the file system or backups kept is outside its reach (threat model: use a KMS)."""

    def __init__(self, path: Path) -> None:
        """Open (or create) the store; ConfigError naming the file if it cannot be opened or
        is not an SQLite database (a corrupt or foreign file is never overwritten)."""
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600))
            os.chmod(path, 0o600)
        except OSError as exc:
            raise ConfigError(f"data-key store {path}: cannot be opened ({exc.strerror})") from None
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None)
        try:
            self._db.execute("PRAGMA secure_delete = ON")
            # WAL: no fsync per data key (a notice's outputs count only once its Kafka
            # transaction commits, after this). destroy() checkpoints and truncates the WAL, so
            # that the pages holding a destroyed key are overwritten (secure_delete) and gone
            # from the -wal file.
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.execute(_SCHEMA)
            self._db.execute("SELECT 1 FROM data_keys LIMIT 1").fetchone()  # reads a page
        except sqlite3.DatabaseError as exc:
            self._db.close()
            # sqlite's messages ("file is not a database") carry no content of the file
            raise ConfigError(
                f"data-key store {path}: cannot be used as an SQLite database ({exc}); restore "
                "it from a backup (it holds the only copies of the data keys: never delete it)"
            ) from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SqliteDataKeyStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def data_key(self, notice_id: str, notice_type: str, now: datetime) -> bytes:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute(
                "SELECT data_key, destroyed_at FROM data_keys WHERE notice_id = ?", (notice_id,)
            ).fetchone()
            if row is None:
                key = secrets.token_bytes(32)
                db.execute(
                    "INSERT INTO data_keys (notice_id, notice_type, created_at, data_key) "
                    "VALUES (?, ?, ?, ?)",
                    (notice_id, notice_type, now.astimezone(UTC).isoformat(), key),
                )
            elif row[0] is None:
                raise key_destroyed()
            else:
                key = bytes(row[0])
            db.execute("COMMIT")
            return key
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def lookup(self, notice_id: str) -> bytes | None:
        row = self._db.execute(
            "SELECT data_key FROM data_keys WHERE notice_id = ?", (notice_id,)
        ).fetchone()
        return bytes(row[0]) if row and row[0] is not None else None

    def entries(self) -> list[DataKeyEntry]:
        rows = self._db.execute(
            "SELECT notice_id, notice_type, created_at, destroyed_at FROM data_keys "
            "ORDER BY created_at, notice_id"
        ).fetchall()
        return [DataKeyEntry(r[0], r[1], datetime.fromisoformat(r[2]), _ts(r[3])) for r in rows]

    def destroy(self, notice_ids: Iterable[str], now: datetime) -> int:
        ids = list(notice_ids)
        when = now.astimezone(UTC).isoformat()
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            n = 0
            for nid in ids:
                cur = db.execute(
                    "UPDATE data_keys SET data_key = NULL, destroyed_at = ? "
                    "WHERE notice_id = ? AND data_key IS NOT NULL",
                    (when, nid),
                )
                n += cur.rowcount
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return n
