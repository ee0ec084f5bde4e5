"""`broker audit pubkey` and `broker audit seal`: the checkpoint-signing key and the sealer."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from broker.cli._common import err, fail, settings
from broker.cli.audit._shared import WitnessOpt, reported


def pubkey() -> None:
    """Print the checkpoint-signing public key (PEM) for auditors and witnesses."""
    from broker.adapters.stores import sealkey
    from broker.adapters.stores.auditfiles import signing_key_path
    from broker.core.audit import key_id, public_pem

    with reported():
        key = sealkey.load_or_create(signing_key_path(settings()))
    err.print(f"key id {key_id(key.public_key())}", highlight=False)
    sys.stdout.write(public_pem(key.public_key()).decode())


def seal(
    every: Annotated[int, typer.Option(help="seal after this many new records")] = 1000,
    interval: Annotated[float, typer.Option(help="or after this many seconds")] = 10.0,
    witness: WitnessOpt = None,
    once: Annotated[bool, typer.Option(help="catch up, seal what is pending, exit")] = False,
) -> None:
    """Follow the audit topic in order; publish a signed checkpoint every N records or T seconds.

    Run one sealer per audit topic. It re-reads the topic from the start, verifying every
    checkpoint already there and the witness file, and refuses to seal a log that does not
    verify. Each checkpoint is appended to the witness file before it is published.
    """
    from broker.adapters import logs
    from broker.core.audit import AuditError
    from broker.services import sealer

    logs.configure("info")
    with reported():
        service = sealer.build(
            settings(), every=every, interval=interval, witness=witness, once=once
        )
    try:
        service.run()
    except AuditError as exc:
        fail(str(exc), 1)
