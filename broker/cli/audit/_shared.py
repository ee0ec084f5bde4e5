"""What several audit commands share: their options, the trusted keys, the key registry, and
the adapters' file errors reported as the commands always have."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from broker.adapters.stores import keyfiles
from broker.cli._common import fail

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from broker.adapters.settings import Settings
    from broker.core.audit import Checkpoint
    from broker.core.crypto.registry import Registry, SigningKey

TrustOpt = Annotated[
    list[Path] | None,
    typer.Option("--trust", help="a public key (PEM) whose checkpoints count; repeatable"),
]
WitnessOpt = Annotated[
    Path | None,
    typer.Option(help="witness file of checkpoints kept outside Kafka [default: state dir]"),
]
StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="SQLite file or postgresql:// URL [default: $BROKER_AUDIT_STORE or state dir]",
    ),
]


@contextmanager
def reported() -> Iterator[None]:
    """A witness or dump line that does not parse exits 1; a key file that is not an Ed25519
    private key exits 2 (each with the message naming the file)."""
    from broker.adapters.stores.auditfiles import LineError
    from broker.adapters.stores.sealkey import KeyFileError

    try:
        yield
    except LineError as exc:
        fail(str(exc), 1)
    except KeyFileError as exc:
        fail(str(exc))


def witness_checkpoints(path: Path | None) -> list[Checkpoint]:
    """The witness file's checkpoints (none if there is no file)."""
    from broker.adapters.stores.auditfiles import read_witness

    with reported():
        return read_witness(path)


def writer_key(s: Settings, writer: str) -> SigningKey:
    """This writer's audit-writer key (broker.core.audit.writers), loaded at start: without it the
    command stops with a ConfigError saying how to create it, before anything is written."""

    return keyfiles.writer_key(s.key_paths(), registry_of(s), writer)


def registry_of(s: Settings) -> Registry:
    """The key registry: verification checks every audit message's writer against it."""
    from broker.adapters.stores.keyfiles import load_registry

    return load_registry(s.key_paths().registry)


def trusted(s: Settings, extra: list[Path] | None) -> dict[str, Ed25519PublicKey]:
    """Keys whose checkpoints count: the ones given (--trust), else this host's sealing key."""
    from broker.adapters.stores import sealkey
    from broker.adapters.stores.auditfiles import signing_key_path
    from broker.core.audit import load_public_pem, trusted_keys

    keys = [load_public_pem(p.read_bytes()) for p in extra or []]
    if not keys:
        with reported():
            own = sealkey.load(signing_key_path(s))
        if own is None:
            fail(
                "no trusted key: pass --trust PUBLIC.pem (from `broker audit pubkey`) "
                f"or run where the sealing key is ({signing_key_path(s)})"
            )
        keys = [own.public_key()]
    return trusted_keys(*keys)


def publish_reviewer_event(
    s: Settings, key: SigningKey, event_type: str, event_id: str, value: bytes, now: datetime
) -> None:
    """Sign one reviewer event (a review, an informed or an exception) with the reviewer's
    writer key and publish it to the audit topic as the reviewer principal."""
    from broker.adapters.kafka.clients import producer, send_all
    from broker.core.audit import ce_headers, writers
    from broker.core.deployment.acl import Principals
    from broker.core.pipeline import OutMessage

    headers = writers.sign(ce_headers(event_type, event_id, now), value, key)

    async def go() -> None:
        async with producer(s.bootstrap, principal=Principals().reviewer) as p:
            await send_all(p, [OutMessage(s.topics.audit, None, value, headers)])

    asyncio.run(go())
