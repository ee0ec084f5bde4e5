"""`broker schemas …`: developers keep schemas/ (JSON Schema, AsyncAPI) in step with the code."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from broker.cli._common import settings, write_generated

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
    write_generated(directory, files, check=check, command="broker schemas export")
