"""Local keys for a demo, test or benchmark run (never for production, where the operator
generates and registers each key with `broker keys generate`)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from broker.adapters.examples import example_organisation, example_units
from broker.adapters.policy_files import load_directory, load_policy
from broker.adapters.settings import Settings
from broker.adapters.stores import keyfiles
from broker.core.crypto import sealing
from broker.core.crypto.registry import AUDIT_WRITERS, BROKER_OWNER, KeyKind


def set_aside_stale(paths: keyfiles.KeyPaths, now: datetime) -> Path | None:
    """Local keys made before example units were bound to the directory's organisations can
    never be bound again (a unit's keys keep their organisation): move that key folder aside,
    whole, so new ones are made. Only a folder holding its own registry; None if nothing moved."""
    if paths.registry.parent != paths.root:
        return None  # an operator's registry: never touched here
    registry = keyfiles.load_registry(paths.registry, missing_ok=True)
    stale = any(
        (e.sender, e.organisation) != (sender, example_organisation(unit))
        for unit, sender in example_units().items()
        for e in registry.owned(KeyKind.publisher, unit)
    )
    if not stale:
        return None
    aside = paths.root.with_name(f"{paths.root.name}.stale-{now:%Y%m%dT%H%M%S}")
    paths.root.rename(aside)
    return aside


def ensure_dev_keys(settings: Settings) -> Path | None:
    """The broker's signing key, the audit writers' (the worker, the sealer, the reviewer, the
    receipts relay, the directory's administrator) signing keys, a signing key for every
    police, school or child-welfare unit in the examples, bound to the sender class of the
    notices it issues there, and an encryption key for every active organisation of the
    directory that fills a role a rule can deliver to (a retired one gets none). Existing
    active keys are kept.
    A dev unit is bound to the directory organisation it publishes for (examples'
    EXAMPLE_ORGANISATIONS; in production the operator registers it with `broker keys generate
    --organisation`). Returns where stale local keys were moved (set_aside_stale), if any."""
    paths = settings.key_paths()
    now = datetime.now(UTC)
    moved = set_aside_stale(paths, now)
    keyfiles.ensure(paths, KeyKind.broker, BROKER_OWNER, now)
    for writer in AUDIT_WRITERS:  # each writer of the audit topic signs what it writes
        keyfiles.ensure(paths, KeyKind.audit_writer, writer, now)
    keyfiles.ensure(paths, KeyKind.recipient, sealing.BROKER_INBOX, now)  # notices are sealed to it
    for unit, sender in example_units().items():
        home = example_organisation(unit)
        keyfiles.ensure(paths, KeyKind.publisher, unit, now, sender=sender, organisation=home)
    policy = load_policy(settings.policy_dir)
    roles = {r.recipient for r in policy.rules}
    for organisation in sorted(load_directory(policy).organisations.values(), key=lambda o: o.id):
        if organisation.kind in roles:
            keyfiles.ensure(paths, KeyKind.recipient, organisation.id, now)
    return moved
