"""`broker keys …`: create, list, rotate and retire signing and encryption keys.

Public keys go to the registry; private keys to 0600 files on this host only. Nothing here
prints, logs or raises with private key material.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from broker.adapters.stores.keyfiles import KeyPaths
from broker.cli._common import fail, out, settings
from broker.core.crypto.registry import (
    AUDIT_WRITERS,
    BROKER_OWNER,
    KeyKind,
    KeyStatus,
    RegistryEntry,
)
from broker.core.directory import Directory, Unresolved
from broker.core.notices import SENDERS

app = typer.Typer(
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # a traceback must never print a key
    help="Operators and key holders: signing keys (publishers, broker) and encryption keys "
    "(recipients).",
)

PublisherOpt = Annotated[
    str | None, typer.Option("--publisher", help="a publishing unit id, e.g. oslo-pd-ost")
]
RecipientOpt = Annotated[
    str | None,
    typer.Option(
        "--recipient",
        help="an organisation's id from policies/directory.yaml (deliveries are sealed to "
        "it), or 'broker' for the broker's inbox (notices are sealed to it)",
    ),
]
BrokerOpt = Annotated[bool, typer.Option("--broker", help="the broker's own signing key")]
AuditWriterOpt = Annotated[
    str | None,
    typer.Option(
        "--audit-writer",
        help=f"the signing key of a writer of the audit topic ({', '.join(AUDIT_WRITERS)}): "
        "it signs every record it writes there",
    ),
]
SenderOpt = Annotated[
    str | None,
    typer.Option(
        "--sender",
        help=f"publisher keys: the unit's sender class ({', '.join(SENDERS)}); the worker "
        "accepts from the unit only the notice types of this class",
    ),
]
OrganisationOpt = Annotated[
    str | None,
    typer.Option(
        "--organisation",
        help="publisher keys: the organisation the unit belongs to (organisation number or id)",
    ),
]
STATUS_STYLE = {KeyStatus.active: "green", KeyStatus.rotated: "yellow", KeyStatus.retired: "red"}


def key_paths() -> KeyPaths:
    return settings().key_paths()


def _owner(
    publisher: str | None, recipient: str | None, broker: bool, audit_writer: str | None = None
) -> tuple[KeyKind, str]:
    chosen = [
        (KeyKind.publisher, publisher) if publisher else None,
        (KeyKind.recipient, recipient) if recipient else None,
        (KeyKind.broker, BROKER_OWNER) if broker else None,
        (KeyKind.audit_writer, audit_writer) if audit_writer else None,
    ]
    picked = [c for c in chosen if c is not None]
    if len(picked) != 1:
        fail("give exactly one of --publisher UNIT, --recipient ID, --broker, --audit-writer ROLE")
    kind, owner = picked[0]
    if kind is KeyKind.audit_writer and owner not in AUDIT_WRITERS:
        fail(f"--audit-writer: must be one of {', '.join(AUDIT_WRITERS)}")
    # "broker" is the broker's inbox: publishers seal notices to it (rotate it regularly;
    # `broker retention purge` destroys rotated inbox keys past retention)
    if kind is KeyKind.recipient and owner != BROKER_OWNER:
        _receiving(owner)
    return kind, owner


def _receiving(organisation: str) -> None:
    """A recipient key is an active organisation's: deliveries are sealed to it, never to a
    role, and a retired organisation receives nothing more."""
    from broker.adapters.policy_files import load_directory, load_policy

    policy = load_policy(settings().policy_dir)
    directory = load_directory(policy)  # the policy read once, for both questions
    if organisation in directory.retired:
        when = directory.retired[organisation].retired
        fail(f"--recipient: '{organisation}' was retired on {when}: it receives nothing more")
    if organisation in directory.organisations:
        return
    if organisation in policy.recipients:
        fail(
            f"--recipient: '{organisation}' is not an organisation but a role; each of its "
            f"organisations holds its own key (broker directory list --kind {organisation})"
        )
    fail(
        f"--recipient: '{organisation}' is not an organisation in the directory (an encryption "
        "key belongs to one organisation; see `broker directory list`)"
    )


def _directory() -> Directory:
    from broker.adapters.policy_files import load_directory, load_policy

    return load_directory(load_policy(settings().policy_dir))


def _binding(
    kind: KeyKind, sender: str | None, organisation: str | None, *, required: bool
) -> None:
    """--sender and --organisation: for publisher keys only; a unit's first key needs both
    (a rotated key keeps its unit's)."""
    given = [n for n, v in (("--sender", sender), ("--organisation", organisation)) if v]
    if kind is not KeyKind.publisher:
        if given:
            fail(f"{', '.join(given)}: only for --publisher keys")
        return
    if required and sender is None:
        fail(f"--sender: required for a publisher key (one of {', '.join(SENDERS)})")
    if required and organisation is None:
        fail("--organisation: required for a publisher key (the organisation of the unit)")
    if sender is not None and sender not in SENDERS:
        fail(f"--sender: must be one of {', '.join(SENDERS)}")
    if organisation is not None and sender is not None:
        # a publisher is an organisation of the directory, of a kind that sends its class
        found = _directory().publisher(organisation, sender)
        if isinstance(found, Unresolved):
            fail(f"--organisation: {found.detail} ({found.code})")


def _row(entry: RegistryEntry, paths: KeyPaths) -> list[str]:
    from broker.adapters.stores.keyfiles import has_private

    when = entry.retired_at or entry.rotated_at
    status = f"[{STATUS_STYLE[entry.status]}]{entry.status}[/]"
    return [
        entry.owner,
        entry.kind.value,
        entry.sender or "-",
        entry.organisation or "-",
        entry.key_id,
        entry.created.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
        status + (f" {when.astimezone(UTC):%Y-%m-%d}" if when else ""),
        "yes" if has_private(paths, entry) else "-",
    ]


def _table(title: str) -> Table:
    return Table(
        "owner",
        "kind",
        "sender",
        "organisation",
        "key id",
        "created (UTC)",
        "status",
        "private key here",
        title=title,
    )


@app.command("generate")
def keys_generate(
    publisher: PublisherOpt = None,
    recipient: RecipientOpt = None,
    broker: BrokerOpt = False,
    audit_writer: AuditWriterOpt = None,
    sender: SenderOpt = None,
    organisation: OrganisationOpt = None,
) -> None:
    """Create the first key pair of a publisher (with its --sender class and --organisation),
    a recipient, the broker or a writer of the audit topic."""
    from broker.adapters.stores.keyfiles import generate

    kind, owner = _owner(publisher, recipient, broker, audit_writer)
    _binding(kind, sender, organisation, required=True)
    paths = key_paths()
    entry = generate(
        paths, kind, owner, datetime.now(UTC), sender=sender, organisation=organisation
    )
    table = _table("new key")
    table.add_row(*_row(entry, paths))
    out.print(table)
    out.print(f"registry: {paths.registry}", highlight=False)


@app.command("rotate")
def keys_rotate(
    publisher: PublisherOpt = None,
    recipient: RecipientOpt = None,
    broker: BrokerOpt = False,
    audit_writer: AuditWriterOpt = None,
    sender: SenderOpt = None,
    organisation: OrganisationOpt = None,
) -> None:
    """A new active key; the old one still verifies and decrypts until it is retired. A
    publisher's new key keeps the unit's sender class and organisation."""
    from broker.adapters.stores.keyfiles import rotate

    kind, owner = _owner(publisher, recipient, broker, audit_writer)
    _binding(kind, sender, organisation, required=False)
    paths = key_paths()
    new, old = rotate(
        paths, kind, owner, datetime.now(UTC), sender=sender, organisation=organisation
    )
    table = _table("rotated")
    for entry in (old, new):
        if entry is not None:
            table.add_row(*_row(entry, paths))
    out.print(table)
    out.print("[dim]restart the worker (and subscribers) to load the new registry[/]")


@app.command("retire")
def keys_retire(
    key_id: Annotated[str, typer.Argument(help="the key id (see `broker keys list`)")],
    destroy_private: Annotated[
        bool,
        typer.Option(help="also delete this host's private key file (cannot be undone)"),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask before deleting")] = False,
) -> None:
    """Refuse a key from now on (stolen, or no longer needed)."""
    from broker.adapters.stores.keyfiles import retire

    if destroy_private and not yes:
        typer.confirm(
            f"Delete the private key of {key_id}? Deliveries sealed to it become unreadable here",
            abort=True,
        )
    paths = key_paths()
    entry = retire(paths, key_id, datetime.now(UTC), destroy_private=destroy_private)
    table = _table("retired")
    table.add_row(*_row(entry, paths))
    out.print(table)


@app.command("list")
def keys_list() -> None:
    """Every registered key: owner, kind, key id, created, status. Never private material."""
    from broker.adapters.stores.keyfiles import load_registry

    paths = key_paths()
    registry = load_registry(paths.registry, missing_ok=True)
    table = _table(f"keys in {paths.registry}")
    for entry in sorted(registry.keys, key=lambda e: (e.kind.value, e.owner, e.created)):
        table.add_row(*_row(entry, paths))
    out.print(table)
    if not registry.keys:
        out.print(
            "[dim]no keys yet: broker keys generate --broker | --recipient ID | --publisher UNIT "
            "--sender CLASS --organisation ORG[/]"
        )
