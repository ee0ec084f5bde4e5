"""The auditor store on PostgreSQL, given a ``postgresql://`` URL (psycopg 3).

psycopg is imported only when a PostgreSQL store is opened, so SQLite users never load it.
"""

from __future__ import annotations

from typing import Any

SCHEMES = ("postgresql://", "postgres://")


def is_url(target: str) -> bool:
    """Whether ``target`` names a PostgreSQL database (anything else is a SQLite file path)."""
    return target.startswith(SCHEMES)


class PostgreSQL:
    """A PostgreSQL database as the store's driver (psycopg marks parameters ``%s``)."""

    blob = "BYTEA"

    def __init__(self, conn: Any, where: str) -> None:
        self.conn = conn
        self.where = where

    @classmethod
    def open(cls, url: str) -> PostgreSQL:
        import psycopg  # noqa: PLC0415 (only PostgreSQL users load the driver)

        return cls(psycopg.connect(url, autocommit=False), redact_url(url))

    def sql(self, sql: str) -> str:
        return sql.replace("?", "%s")


def redact_url(url: str) -> str:
    """A database URL fit for messages: the password is left out."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        creds, _, host = rest.rpartition("@")
        user = creds.split(":", 1)[0]
        return f"{scheme}{sep}{user}@{host}"
    return url
