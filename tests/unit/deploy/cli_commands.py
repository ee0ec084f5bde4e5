"""Whether an argument list names a real `broker` command (the CLI as the wheel installs it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click
import typer

from broker.cli import app


def is_command(args: Sequence[str]) -> bool:
    """True if ``broker ARGS…`` reaches a command (not a group, not an unknown name); options
    after the command are not checked."""
    node: Any = typer.main.get_command(app)
    for arg in args:
        if not _is_group(node):
            return True
        found = node.get_command(click.Context(node), arg)
        if found is None:
            return False
        node = found
    return not _is_group(node)


def _is_group(node: Any) -> bool:
    # typer's groups have the group interface without being click.Group instances
    return hasattr(node, "list_commands")
