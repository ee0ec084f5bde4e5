"""Retention's files: the policy file ``policies/retention.yaml``, and the private files of
the broker's inbox keys that retention destroys. The rules themselves are
broker.core.retention's."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from broker.adapters.stores import keyfiles
from broker.core.errors import PolicyError
from broker.core.retention import RetentionPolicy, inbox_keys_due, parse_retention

RETENTION_FILE = "retention.yaml"


def load_retention(policy_dir: Path) -> RetentionPolicy:
    """Read policies/retention.yaml: one rule per notice type, every notice type covered."""
    path = policy_dir / RETENTION_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError(str(path), ["file is missing"]) from None
    return parse_retention(text, str(path))


def shred_inbox_keys(
    paths: keyfiles.KeyPaths, now: datetime, policy: RetentionPolicy, *, dry_run: bool = False
) -> list[str]:
    """Destroy the private part of the broker's inbox keys past retention
    (broker.core.retention.inbox_keys_due) that this host still holds. Returns the key ids
    destroyed (or, with ``dry_run``, that would be)."""
    registry = keyfiles.load_registry(paths.registry, missing_ok=True)
    due = [e for e in inbox_keys_due(registry, policy, now) if keyfiles.has_private(paths, e)]
    if not dry_run:
        for entry in due:
            keyfiles.retire(paths, entry.key_id, now, destroy_private=True)
    return [e.key_id for e in due]
