"""The auditor store: the audit topic materialised into SQL (SQLite or PostgreSQL), never trusted.

- ``columns``: the table, and the index columns derived again from a message's bytes
- ``driver``: what a database gives the store; ``sqlite`` and ``postgres`` implement it
- ``filters``: what a query selects on
- ``store``: ``AuditStore``, the queries, each answer checked against the record bytes
- ``summaries``: the review list, access log, chart and statistics from a scan of the bytes
- ``sync``: ``Syncer``, verify what is stored, then verify and write new messages
- ``unread``: an organisation's copies delivered but never opened (`broker directory retire`)
"""

from broker.adapters.stores.auditor.columns import Tampered
from broker.adapters.stores.auditor.driver import Driver
from broker.adapters.stores.auditor.filters import Filters
from broker.adapters.stores.auditor.store import AuditStore, Rows, StoreTampered
from broker.adapters.stores.auditor.sync import Syncer

__all__ = ["AuditStore", "Driver", "Filters", "Rows", "StoreTampered", "Syncer", "Tampered"]
