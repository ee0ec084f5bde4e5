"""`broker worker`: run the worker (broker.services.worker)."""

from __future__ import annotations

from typing import Annotated

import typer

from broker.cli._common import fail, settings


def worker(loglevel: Annotated[str, typer.Option(help="log level")] = "info") -> None:
    """Run the worker: decide, redact, deliver and audit every notice."""
    from broker.adapters import logs
    from broker.core.errors import PolicyError
    from broker.services import worker as worker_module

    logs.configure(loglevel)
    try:
        worker_module.run(settings(), loglevel)
    except PolicyError as exc:
        fail(f"policy invalid, worker not started: {exc}")
