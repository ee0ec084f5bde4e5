"""`broker audit …`: the auditors' commands."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer
from rich.table import Table

from broker.cli._common import BeginOpt, IdleOpt, MaxOpt, follow, out, settings

app = typer.Typer(no_args_is_help=True, help="Auditors: read and check the audit log.")


AUDIT_COLUMNS = (
    "recorded",
    "notice",
    "type",
    "recipient",
    "decision",
    "rule or reason",
    "legal basis",
    "kept/withheld",
)


def _reason(record: dict[str, Any]) -> str:
    """The deciding rule, or the last reason's code and subject (never a value)."""
    if record.get("rule_id"):
        return str(record["rule_id"])
    reason = (record.get("reasons") or ["-"])[-1]
    code, _, detail = reason.partition(": ")
    if code == "no-rule":
        return "no-rule"
    return f"{code} ({detail.removeprefix('rule ')})" if detail else code


def audit_row(r: dict[str, Any]) -> list[str]:
    decision = r.get("outcome") or r["event"]
    style = {"deliver": "green", "deny": "yellow"}.get(decision, "red")
    return [
        r["recorded_at"][11:19],
        (r.get("notice_id") or "-")[:8],
        r.get("notice_type") or "-",
        r.get("recipient") or "-",
        f"[{style}]{decision}[/]",
        _reason(r),
        (r.get("legal_basis") or {}).get("id", "-"),
        f"{len(r.get('fields_kept', []))}/{len(r.get('fields_withheld', []))}",
    ]


def audit_table(
    records: list[dict[str, Any]], title: str | None = "audit records", show_header: bool = True
) -> Table:
    table = Table(*AUDIT_COLUMNS, title=title, show_header=show_header)
    for r in records:
        table.add_row(*audit_row(r))
    return table


@app.command("tail")
def audit_tail(
    max_records: MaxOpt = None,
    idle_timeout: IdleOpt = None,
    from_beginning: BeginOpt = True,
    as_json: Annotated[bool, typer.Option("--json", help="raw JSON lines")] = False,
) -> None:
    """Print audit records as they arrive (field names and keyed references, never values)."""
    s = settings()
    widths = (8, 8, 8, 14, 11, 44, 13, 13)
    if not as_json:
        out.print(
            " ".join(c.ljust(w) for c, w in zip(AUDIT_COLUMNS, widths, strict=True)),
            style="bold",
            highlight=False,
        )

    def show(record: Any) -> None:
        data = json.loads(record.value)
        if as_json:
            print(json.dumps(data, ensure_ascii=False), flush=True)
            return
        cells = audit_row(data)
        plain = [c.split("]", 1)[-1].removesuffix("[/]") if c.startswith("[") else c for c in cells]
        out.print(" ".join(c.ljust(w) for c, w in zip(plain, widths, strict=True)), highlight=False)

    asyncio.run(follow([s.topics.audit], show, max_records, idle_timeout, from_beginning))


# --- lawyers and operators -----------------------------------------------------------------
