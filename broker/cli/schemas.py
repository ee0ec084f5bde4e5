"""`broker schemas …`: developers keep schemas/ (JSON Schema, AsyncAPI) in step with the code."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from broker.cli._common import fail, out, settings

app = typer.Typer(no_args_is_help=True, help="Developers: generated schemas/.")


@app.command("export")
def export(
    check: Annotated[bool, typer.Option(help="exit 1 if schemas/ is stale; write nothing")] = False,
    directory: Annotated[Path, typer.Option(help="output directory")] = Path("schemas"),
) -> None:
    """Write one JSON Schema per message type and version, and the AsyncAPI document."""
    from broker.adapters.policy_files import load_policy
    from broker.core.schemas import render

    files = render(load_policy(settings().policy_dir))
    stale = [
        n
        for n, text in files.items()
        if not (directory / n).exists() or (directory / n).read_text("utf-8") != text
    ]
    if check:
        if stale:
            fail(f"schemas/ is stale: {', '.join(stale)} (run: broker schemas export)", 1)
        out.print(f"schemas/ is up to date ({len(files)} files)")
        return
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    out.print(f"wrote {len(files)} files to {directory}/ ({len(stale)} changed)")
