"""The interface a database gives the auditor store; ``sqlite.py`` and ``postgres.py`` implement it.

The queries are written once, in SQLite's SQL: a driver says only how its database differs
(the column type for bytes, the parameter marks). Both databases take the same upserts
(``ON CONFLICT … DO NOTHING`` / ``DO UPDATE``), so that is not a difference.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class Connection(Protocol):
    """The DB-API calls the store makes (sqlite3's and psycopg's connections both have them)."""

    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...
    def cursor(self) -> Any: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def close(self) -> None: ...


class Driver(Protocol):
    """One database under the store: its connection, where it is (fit for messages), and how
    its SQL differs from SQLite's (the column type for bytes, the parameter marks)."""

    @property
    def conn(self) -> Connection: ...
    @property
    def where(self) -> str: ...
    @property
    def blob(self) -> str: ...
    def sql(self, sql: str) -> str:
        """``sql`` with SQLite's ``?`` marks in this database's parameter style."""
        ...
