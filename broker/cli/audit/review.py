"""`broker audit review`: urgent disclosures awaiting review, and recording a review."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from broker.cli._common import LangOpt, fail, out, settings, translator
from broker.cli.audit._render import audit_table, stored_records
from broker.cli.audit._shared import StoreOpt, publish_reviewer_event, writer_key


def review(
    record: Annotated[str | None, typer.Option(help="the record id reviewed")] = None,
    reviewer: Annotated[str | None, typer.Option(help="who reviewed it")] = None,
    note: Annotated[
        str | None, typer.Option(help="the review's conclusion (no personal data)")
    ] = None,
    store: StoreOpt = None,
    lang: LangOpt = None,
) -> None:
    """List urgent disclosures awaiting review; with --record, record a review in the audit log."""
    from broker.adapters.stores.auditfiles import store_target
    from broker.adapters.stores.auditor import AuditStore
    from broker.core.audit import REVIEW_TYPE, AuditError, review_event, writers
    from broker.core.times import utc_z

    s = settings()
    key = writer_key(s, writers.REVIEWER) if record is not None else None
    with AuditStore.open(store or store_target(s)) as st:
        if record is None:
            pending = stored_records(st.pending_reviews())
            words = translator(lang)
            title = words.ngettext(
                "%(n)s urgent disclosure awaiting review",
                "%(n)s urgent disclosures awaiting review",
                len(pending),
            )
            out.print(audit_table(pending, words, title))
            ids = Table(words.gettext("record id"), words.gettext("recorded (UTC)"))
            for r in pending:
                ids.add_row(r.record_id, utc_z(r.recorded_at, "auto"))
            out.print(ids)
            return
        try:
            reviewed = st.record(record)
        except AuditError as exc:
            fail(f"--record: {exc}", 1)
    if reviewed is None:
        fail(f"--record: no audit record {record} in the store (run `broker audit sync`)")
    if not reviewed.get("review_required"):
        fail(f"--record: record {record} is not marked for review")
    if not reviewer or not note:
        fail("--reviewer and --note are required to record a review")
    now = datetime.now(UTC)
    try:
        rid, value = review_event(record, reviewer, note, now)
    except ValueError as exc:
        fail(str(exc))
    assert key is not None  # loaded above whenever --record is given
    publish_reviewer_event(s, key, REVIEW_TYPE, rid, value, now)
    out.print(f"review {rid} of record {record} published to {s.topics.audit}")
