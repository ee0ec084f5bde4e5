"""The auditor store on SQLite: a file, no set-up (the standard library's sqlite3).

The file is created 0600 in a 0700 directory before SQLite opens it, since SQLite gives its
-wal, -shm and -journal files the database file's mode.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path


class SQLite:
    """A SQLite database file as the store's driver (``?`` marks are SQLite's own)."""

    blob = "BLOB"

    def __init__(self, conn: sqlite3.Connection, where: str) -> None:
        self.conn = conn
        self.where = where

    @classmethod
    def open(cls, path: Path) -> SQLite:
        private_file(path)
        return cls(sqlite3.connect(path), str(path))

    def sql(self, sql: str) -> str:
        return sql


def private_file(path: Path) -> None:
    """Create the SQLite file 0600 (its folder 0700) before SQLite opens it; tighten an old one.
    SQLite creates its -wal, -shm and -journal files with the database file's permissions."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
        os.chmod(path.parent, 0o700)  # mkdir's mode is subject to the umask
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    for suffix in ("-wal", "-shm", "-journal"):
        side = path.with_name(path.name + suffix)
        if side.exists() and side.stat().st_mode & 0o077:
            os.chmod(side, 0o600)
