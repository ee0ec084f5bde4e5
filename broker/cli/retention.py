"""`broker retention …`: destroy the data keys of notices past their retention period."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from broker.cli._common import err, out, settings
from broker.cli.keys import key_paths
from broker.core.errors import PolicyError

if TYPE_CHECKING:
    from broker.core.retention import RetentionPolicy

app = typer.Typer(
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    help="Data protection officers and operators: retention by crypto-shredding.",
)


def _load_policy() -> RetentionPolicy:
    from broker.adapters.retention_files import load_retention

    try:
        return load_retention(settings().policy_dir)
    except PolicyError as exc:
        err.print(f"[bold red]{exc.file}[/]")
        for problem in exc.problems:
            err.print(f"  - {problem}", highlight=False)
        raise typer.Exit(1) from None


def _day(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value else "-"


@app.command("purge")
def retention_purge(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="show what would be destroyed; destroy nothing")
    ] = False,
) -> None:
    """Destroy the data keys of notices past the retention period in policies/retention.yaml:
    their deliveries on Kafka, in backups and in the audit trail can no longer be read."""
    from broker.adapters.retention_files import shred_inbox_keys
    from broker.adapters.stores.datakeys import SqliteDataKeyStore
    from broker.core.retention import purge

    policy = _load_policy()
    now = datetime.now(UTC)
    with (
        out.status("purging expired data keys" if not dry_run else "checking data keys"),
        SqliteDataKeyStore(key_paths().data_keys) as store,
    ):
        report = purge(store, policy, now, dry_run=dry_run)
        inbox = shred_inbox_keys(key_paths(), now, policy, dry_run=dry_run)
    verb = "would be destroyed" if dry_run else "destroyed"
    table = Table(
        "notice id",
        "type",
        "received (UTC)",
        "expired (UTC)",
        "action",
        title="data keys past retention",
    )
    for item in report.items:
        if item.action == "destroy":
            action = "[red]would destroy[/]" if dry_run else "[red]destroyed[/]"
        else:
            action = "[yellow]kept: no retention rule[/]"
        table.add_row(
            item.entry.notice_id,
            item.entry.notice_type,
            _day(item.entry.created_at),
            _day(item.expires_at),
            action,
        )
    if report.items:
        out.print(table)
    due = sum(1 for i in report.items if i.action == "destroy")
    out.print(
        f"{due if dry_run else report.destroyed} data keys {verb}; "
        f"{report.kept} live keys kept (not yet due or no rule)",
        highlight=False,
    )
    out.print(
        f"{len(inbox)} rotated broker inbox key(s) {verb}"
        + (f": {', '.join(inbox)}" if inbox else "")
        + " (the notices and dead letters sealed to them can no longer be read)",
        highlight=False,
    )


@app.command("status")
def retention_status() -> None:
    """Data keys per notice type: live, destroyed, retention period and next expiry."""
    from broker.adapters.stores.datakeys import SqliteDataKeyStore

    policy = _load_policy()
    with SqliteDataKeyStore(key_paths().data_keys) as store:
        entries = store.entries()
    live = Counter(e.notice_type for e in entries if e.destroyed_at is None)
    gone = Counter(e.notice_type for e in entries if e.destroyed_at is not None)
    table = Table("notice type", "retention (days)", "live keys", "destroyed", "next expiry (UTC)")
    for notice_type in sorted(set(policy.rules) | set(live) | set(gone)):
        period = policy.period(notice_type)
        expiries = [
            e.created_at + period
            for e in entries
            if period and e.notice_type == notice_type and e.destroyed_at is None
        ]
        table.add_row(
            notice_type,
            str(period.days) if period else "[yellow]no rule[/]",
            str(live[notice_type]),
            str(gone[notice_type]),
            _day(min(expiries)) if expiries else "-",
        )
    out.print(table)
