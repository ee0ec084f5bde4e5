"""`broker policy …`: the lawyers' commands."""

from __future__ import annotations

import typer

from broker.cli._common import err, out, settings
from broker.errors import PolicyError

app = typer.Typer(no_args_is_help=True, help="Lawyers: check, explain and test the policies.")


@app.command("check")
def policy_check() -> None:
    """Validate policies/: exits non-zero naming the file and the problem."""
    from broker.policy import load_policy

    try:
        policy = load_policy(settings().policy_dir)
    except PolicyError as exc:
        err.print(f"[bold red]{exc.file}[/]")
        for problem in exc.problems:
            err.print(f"  - {problem}", highlight=False)
        raise typer.Exit(1) from None
    out.print(
        f"policies OK: {len(policy.legal_bases)} legal bases, {len(policy.recipients)} "
        f"recipients, {len(policy.rules)} rules; version {policy.version}"
    )
