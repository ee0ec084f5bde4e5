"""Retention by crypto-shredding: per-notice data keys, how long they live, and purging them.

Every notice's deliveries are encrypted under keys derived from one random data key
(broker.core.crypto.sealing). The data-key store (``DataKeyStore`` here; on SQLite in
broker.adapters.stores.datakeys) keeps it, with the notice type and when it was made, so the
broker can answer an access request or an audit inquiry about what it disclosed. Once the
retention period of the notice type (``policies/retention.yaml``) has passed, ``purge``
destroys the key: the ciphertexts left on Kafka, in backups or in the audit trail can no longer
be read by the broker or its operators. Audit records commit to ciphertext hashes and field
names only, so they still verify.

The period is read from the policy at purge time, never frozen into the store: a lawyer who
shortens a period shortens it for notices already received. The file itself is read by
broker.adapters.retention_files; this module holds the rules and decides what is due.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from broker.core.crypto.registry import BROKER_OWNER, KeyKind, KeyStatus, Registry, RegistryEntry
from broker.core.deployment.topics import MAX_LIFETIME_DAYS
from broker.core.errors import FieldProblem, NoticeError, PolicyError
from broker.core.notices import NOTICE_MODELS
from broker.core.policy.model import PolicyText, said

# Dead letters' sealed copies have data keys too, kept under this kind (not a notice type).
DEAD_LETTER_KIND = "dead-letter"


class RetentionError(NoticeError):
    """A notice arrived whose data key was already destroyed (a replay of an old notice):
    it is dead-lettered, never re-keyed."""


# --- the policy ------------------------------------------------------------------------------

DELIVERY_TOPIC_DAYS = MAX_LIFETIME_DAYS  # deliveries and notices are gone from Kafka by then


class RetentionRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    notice_type: str
    # at least as long as the delivery topics keep a delivery: a purge must never leave a
    # delivery on Kafka whose key is gone for the broker but not yet for Kafka's retention
    days: int = Field(
        ge=DELIVERY_TOPIC_DAYS, le=3650, description="days after receipt until the key is destroyed"
    )
    reason: PolicyText = Field(description="why this long: the law or need it serves")
    status: Literal["confirmed", "guidance", "inferred"]  # as in legal-bases.yaml


@dataclass(frozen=True)
class RetentionPolicy:
    rules: Mapping[str, RetentionRule]

    def longest(self) -> timedelta:
        return timedelta(days=max((r.days for r in self.rules.values()), default=0))

    def period(self, notice_type: str) -> timedelta | None:
        rule = self.rules.get(notice_type)
        return timedelta(days=rule.days) if rule else None


def parse_retention(text: str, source: str) -> RetentionPolicy:
    """The text of policies/retention.yaml as rules: one per notice type, every notice type
    covered; PolicyError naming ``source`` (the file) and each problem otherwise."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(source, [f"not valid YAML: {exc}"]) from None
    items = data.get("retention") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise PolicyError(source, ["expected a top-level 'retention:' list"])
    problems: list[str] = []
    rules: dict[str, RetentionRule] = {}
    known = sorted({t for t, _ in NOTICE_MODELS} | {DEAD_LETTER_KIND})
    for i, item in enumerate(items):
        label = item.get("notice_type", f"#{i + 1}") if isinstance(item, dict) else f"#{i + 1}"
        try:
            rule = RetentionRule.model_validate(item)
        except ValidationError as exc:
            problems += [
                f"{label}: {'.'.join(map(str, e['loc'])) or '(entry)'}: {said(e)}"
                for e in exc.errors(include_url=False, include_input=False)
            ]
            continue
        if rule.notice_type not in known:
            problems.append(f"{label}: notice_type: unknown notice type (known: {known})")
        elif rule.notice_type in rules:
            problems.append(f"{label}: notice_type: more than one rule")
        else:
            rules[rule.notice_type] = rule
    problems += [f"{t}: no retention rule for this notice type" for t in known if t not in rules]
    if problems:
        raise PolicyError(source, problems)
    return RetentionPolicy(rules)


# --- the data-key store ----------------------------------------------------------------------


@dataclass(frozen=True)
class DataKeyEntry:
    """A stored data key's bookkeeping. The key itself is never part of an entry."""

    notice_id: str
    notice_type: str
    created_at: datetime
    destroyed_at: datetime | None = None


class DataKeyStore(Protocol):
    def data_key(self, notice_id: str, notice_type: str, now: datetime) -> bytes:
        """The notice's data key, created on first use (a reprocessed notice gets the same
        key). RetentionError if it was destroyed."""
        ...

    def lookup(self, notice_id: str) -> bytes | None:
        """The data key, or None if unknown or destroyed."""
        ...

    def entries(self) -> list[DataKeyEntry]: ...

    def destroy(self, notice_ids: Iterable[str], now: datetime) -> int:
        """Destroy these keys (keeping a tombstone); returns how many were destroyed."""
        ...


def key_destroyed() -> RetentionError:
    """What every store raises for a notice whose data key was destroyed."""
    return RetentionError(
        "data-key-destroyed",
        [FieldProblem("notice_id", "the retention period of this notice has ended")],
    )


# --- purging ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PurgeItem:
    entry: DataKeyEntry
    expires_at: datetime | None
    action: Literal["destroy", "keep-no-rule"]


@dataclass(frozen=True)
class PurgeReport:
    items: tuple[PurgeItem, ...]
    destroyed: int
    dry_run: bool
    kept: int = 0  # live keys not yet due


def due(entries: Iterable[DataKeyEntry], policy: RetentionPolicy, now: datetime) -> list[PurgeItem]:
    """Live keys past their retention period, and live keys of a type with no rule (listed so
    an operator sees them; never destroyed without a rule that says so)."""
    out = []
    for entry in entries:
        if entry.destroyed_at is not None:
            continue
        period = policy.period(entry.notice_type)
        if period is None:
            out.append(PurgeItem(entry, None, "keep-no-rule"))
        elif entry.created_at + period <= now:
            out.append(PurgeItem(entry, entry.created_at + period, "destroy"))
    return out


def purge(
    store: DataKeyStore, policy: RetentionPolicy, now: datetime, *, dry_run: bool = False
) -> PurgeReport:
    entries = store.entries()
    items = due(entries, policy, now)
    doomed = [i.entry.notice_id for i in items if i.action == "destroy"]
    destroyed = 0 if dry_run else store.destroy(doomed, now)
    live = sum(1 for e in entries if e.destroyed_at is None)
    return PurgeReport(tuple(items), destroyed, dry_run, kept=live - len(doomed))


def inbox_keys_due(
    registry: Registry, policy: RetentionPolicy, now: datetime
) -> list[RegistryEntry]:
    """The broker's inbox keys rotated out (or retired) longer than the longest retention
    period ago. Every notice sealed to such a key (on the notices topic, and on the
    dead-letter topic, which never expires) is past retention: once the private key is
    destroyed nobody can read it again. Rotate the inbox key regularly (say monthly) for this
    to bite."""
    return [
        e
        for e in registry.owned(KeyKind.recipient, BROKER_OWNER)
        if e.status is not KeyStatus.active
        and (e.rotated_at or e.retired_at or e.created) + policy.longest() < now
    ]
