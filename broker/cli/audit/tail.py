"""`broker audit tail`: audit records as they arrive, one line each."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer

from broker.cli._common import BeginOpt, IdleOpt, LangOpt, MaxOpt, follow, out, settings, translator
from broker.cli.audit._render import audit_columns, audit_row

WIDTHS = (8, 8, 8, 14, 11, 44, 13, 13)


def tail(
    max_records: MaxOpt = None,
    idle_timeout: IdleOpt = None,
    from_beginning: BeginOpt = True,
    as_json: Annotated[bool, typer.Option("--json", help="raw JSON lines")] = False,
    lang: LangOpt = None,
) -> None:
    """Print audit records as they arrive (field names and keyed references, never values)."""
    from broker.adapters.kafka.auditlog import entry_of
    from broker.core.audit import Checkpoint
    from broker.core.audit.errors import NotAnAuditMessage
    from broker.core.audit.messages import read_audit_message
    from broker.core.deployment.acl import Principals

    s = settings()
    t = translator(lang)
    if not as_json:
        out.print(_line(audit_columns(t)), style="bold", highlight=False)

    def show(record: Any) -> None:
        if as_json:
            print(json.dumps(json.loads(record.value), ensure_ascii=False), flush=True)
            return
        entry = entry_of(record)
        try:
            m = read_audit_message(entry.ce_type, entry.value)
        except NotAnAuditMessage as exc:
            text = t.gettext(
                "offset %(offset)s: not an audit message (%(reason)s)",
                offset=entry.offset,
                reason=exc,
            )
            out.print(f"[red]{text}[/]")
            return
        if isinstance(m, Checkpoint):
            text = t.gettext(
                "checkpoint: %(size)s records sealed, root %(root)s…, key %(key)s",
                size=m.tree_size,
                root=m.root_hash[:16],
                key=m.key_id,
            )
            out.print(f"[dim]{text}[/]", highlight=False)
            return
        cells = audit_row(m, t)
        plain = [c.split("]", 1)[-1].removesuffix("[/]") if c.startswith("[") else c for c in cells]
        out.print(_line(plain), highlight=False)

    asyncio.run(
        follow(
            [s.topics.audit],
            show,
            max_records,
            idle_timeout,
            from_beginning,
            principal=Principals().auditor,
        )
    )


def _line(cells: tuple[str, ...] | list[str]) -> str:
    return " ".join(c.ljust(w) for c, w in zip(cells, WIDTHS, strict=True))
