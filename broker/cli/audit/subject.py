"""`broker audit subject`: the data-subject access report, every disclosure about one person."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from broker.cli._common import LangOpt, err, fail, names, settings, translator
from broker.cli.audit._render import fail_columns
from broker.cli.audit._shared import StoreOpt


def subject(
    national_id: Annotated[str, typer.Option(help="the person's national id number (not stored)")],
    fmt: Annotated[str, typer.Option("--format", help="markdown, html or json")] = "markdown",
    output: Annotated[Path | None, typer.Option(help="write to this file")] = None,
    store: StoreOpt = None,
    lang: LangOpt = None,
) -> None:
    """The data-subject access report: every disclosure about one person (Markdown and HTML in
    bokmål or English; JSON in the records' codes)."""
    from broker.adapters.stores.auditfiles import store_target
    from broker.adapters.stores.auditor import AuditStore, Filters
    from broker.core import national_id as nid
    from broker.core.audit.report import subject_report, to_html, to_markdown
    from broker.core.crypto import refs

    if fmt not in ("markdown", "html", "json"):
        fail("--format: must be markdown, html or json")
    t = translator(lang)
    try:
        number = nid.validate(national_id.strip())
    except ValueError as exc:
        fail(f"--national-id: {exc}")
    s = settings()
    ref = refs.subject_ref(s.subject_key(), number)
    with AuditStore.open(store or store_target(s)) as st:
        docs = st.query(Filters(subject_ref=ref))
    if docs.tampered:
        fail_columns(docs.tampered, f"audit store {st.where}")
    report = subject_report(docs, datetime.now(UTC))
    if fmt == "json":
        text = report.to_json() + "\n"
    else:
        text = (to_markdown if fmt == "markdown" else to_html)(report, t, names(s))
    if output:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {len(report.disclosures)} disclosure(s) to {output}")
    else:
        sys.stdout.write(text)
