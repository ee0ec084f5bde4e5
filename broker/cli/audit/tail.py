"""`broker audit tail`: audit records as they arrive, one line each."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer

from broker.cli._common import BeginOpt, IdleOpt, MaxOpt, follow, out, settings
from broker.cli.audit._render import AUDIT_COLUMNS, audit_row

WIDTHS = (8, 8, 8, 14, 11, 44, 13, 13)


def tail(
    max_records: MaxOpt = None,
    idle_timeout: IdleOpt = None,
    from_beginning: BeginOpt = True,
    as_json: Annotated[bool, typer.Option("--json", help="raw JSON lines")] = False,
) -> None:
    """Print audit records as they arrive (field names and keyed references, never values)."""
    from broker.core.audit import CHECKPOINT_TYPE
    from broker.core.deployment.acl import Principals

    s = settings()
    if not as_json:
        out.print(_line(AUDIT_COLUMNS), style="bold", highlight=False)

    def show(record: Any) -> None:
        data = json.loads(record.value)
        if as_json:
            print(json.dumps(data, ensure_ascii=False), flush=True)
            return
        if dict(record.headers or ()).get("ce_type") == CHECKPOINT_TYPE.encode():
            out.print(
                f"[dim]checkpoint: {data.get('tree_size')} records sealed, root "
                f"{str(data.get('root_hash'))[:16]}…, key {data.get('key_id')}[/]",
                highlight=False,
            )
            return
        cells = audit_row(data)
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
