"""Local keys for a demo, test or benchmark run (never for production, where the operator
generates and registers each key with `broker keys generate`)."""

from __future__ import annotations

from datetime import UTC, datetime

from broker.adapters.examples import example_units
from broker.adapters.policy_files import load_directory, load_policy
from broker.adapters.settings import Settings
from broker.adapters.stores import keyfiles
from broker.core.crypto import sealing
from broker.core.crypto.registry import AUDIT_WRITERS, BROKER_OWNER, KeyKind


def ensure_dev_keys(settings: Settings) -> None:
    """The broker's signing key, the audit writers' (the worker, the sealer, the reviewer, the
    receipts relay, the directory's administrator) signing keys, a signing key for every
    police, school or child-welfare unit in the examples, bound to the sender class of the
    notices it issues there, and an encryption key for every active organisation of the
    directory that fills a role a rule can deliver to (a retired one gets none). Existing
    active keys are kept.
    A dev unit's organisation is its own unit id (in production the operator registers the
    real organisation with `broker keys generate --organisation`)."""
    paths = settings.key_paths()
    now = datetime.now(UTC)
    keyfiles.ensure(paths, KeyKind.broker, BROKER_OWNER, now)
    for writer in AUDIT_WRITERS:  # each writer of the audit topic signs what it writes
        keyfiles.ensure(paths, KeyKind.audit_writer, writer, now)
    keyfiles.ensure(paths, KeyKind.recipient, sealing.BROKER_INBOX, now)  # notices are sealed to it
    for unit, sender in example_units().items():
        keyfiles.ensure(paths, KeyKind.publisher, unit, now, sender=sender, organisation=unit)
    policy = load_policy(settings.policy_dir)
    roles = {r.recipient for r in policy.rules}
    for organisation in sorted(load_directory(policy).organisations.values(), key=lambda o: o.id):
        if organisation.kind in roles:
            keyfiles.ensure(paths, KeyKind.recipient, organisation.id, now)
