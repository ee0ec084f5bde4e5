"""`broker directory retire`: an organisation stops receiving, audited, its unread copies named.

The entry stays in the file (old audit records name it) with ``retired``, ``retired_reason``
and ``successor`` inserted; from the worker's next start its role resolves as if it were absent
(a deny, ``organisation-retired``), and it has no topic, key, certificate or ACLs in any plan.
Its copies are never sent on to the successor: an organisation receiving what was meant for
another needs a decision of its own.

The order is the audit first, then the file: the signed ``organisation-retired`` event (ids,
dates, versions and the delivery ids its store shows unread, never personal data) is written
to the audit topic as the ``directory-admin`` writer, and only once Kafka has acknowledged it
is the file replaced. If the audit topic cannot be written, the file is unchanged; if the file
cannot be written after, the same command again gives the same record id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from broker.cli._common import fail, out, settings
from broker.cli.audit._shared import StoreOpt

if TYPE_CHECKING:
    from broker.adapters.settings import Settings
    from broker.core.audit import Retirement
    from broker.core.pipeline import OutMessage

Publish = Callable[["OutMessage"], None]
AUDIT_TIMEOUT = 60.0  # seconds to wait for the audit topic's acknowledgement
SHOWN = 50  # unread copies listed; the event names them all


class AuditUnwritten(Exception):
    """The audit topic did not acknowledge the retirement event."""


@dataclass(frozen=True)
class Retired:
    """What the retirement wrote: the audit event (its id and content) and the store it read."""

    record_id: str
    retirement: Retirement
    delivered: int  # its deliveries in the store, in all
    store: str
    records: int  # the store's messages (how far it was synced)


def retire_organisation(
    s: Settings,
    organisation: str,
    *,
    reason: str,
    successor: str | None,
    on: date,
    store: str,
    publish: Publish,
    now: datetime,
) -> Retired:
    """Retire ``organisation``: the edit validated, the unread copies read from the auditor
    ``store``, the signed event published (``publish`` raises AuditUnwritten if it could not
    be), then the file replaced; all under the policy directory's lock."""
    from broker.adapters import directory_file
    from broker.adapters.policy_files import load_policy, read_policy_files
    from broker.adapters.stores.auditor import AuditStore
    from broker.adapters.stores.auditor.unread import unread_copies
    from broker.cli.audit._shared import writer_key
    from broker.core.audit import DIRECTORY_TYPE, Retirement, ce_headers, retirement_event, writers
    from broker.core.directory import DIRECTORY_FILE
    from broker.core.directory_edit import retired
    from broker.core.pipeline import OutMessage
    from broker.core.policy.load import policy_version

    key = writer_key(s, writers.DIRECTORY_ADMIN)  # no key: a ConfigError before anything
    with directory_file.locked(s.policy_dir):
        policy = load_policy(s.policy_dir)
        old = directory_file.read(s.policy_dir)
        where = str(directory_file.directory_file(s.policy_dir))
        new, directory = retired(
            old, where, policy.recipients, organisation, on=on, reason=reason, successor=successor
        )
        org = directory.retired[organisation]
        with AuditStore.open(store) as st:
            unread, records, store_at = unread_copies(st, organisation), st.count(), st.where
        version = policy_version({**read_policy_files(s.policy_dir), DIRECTORY_FILE: new})
        retirement = Retirement(
            org.id,
            org.kind,
            on,
            str(org.retired_reason),
            org.successor,
            directory.version,
            version,
            unread.unread,
            unread.unreceived,
        )
        rid, value = retirement_event(retirement, now)
        headers = writers.sign(ce_headers(DIRECTORY_TYPE, rid, now), value, key)
        publish(OutMessage(s.topics.audit, None, value, headers))  # the audit first
        directory_file.replace(s.policy_dir, old, new)  # then the file
    return Retired(rid, retirement, unread.delivered, store_at, records)


def kafka_publisher(s: Settings) -> Publish:
    """Write one message to the audit topic as the directory-admin principal and wait for
    Kafka's acknowledgement (AuditUnwritten if there is none within AUDIT_TIMEOUT)."""
    import asyncio

    from aiokafka.errors import KafkaError

    from broker.adapters.kafka.clients import producer, send_all
    from broker.core.deployment.acl import Principals

    async def send(message: OutMessage) -> None:
        async with producer(s.bootstrap, principal=Principals().directory_admin) as p:
            await send_all(p, [message])

    def publish(message: OutMessage) -> None:
        try:
            asyncio.run(asyncio.wait_for(send(message), AUDIT_TIMEOUT))
        except (KafkaError, OSError, TimeoutError) as exc:
            raise AuditUnwritten(str(exc) or type(exc).__name__) from None

    return publish


def _day(text: str | None) -> date:
    """--on: an ISO date, not after today (the default)."""
    today = datetime.now().astimezone().date()
    if text is None:
        return today
    try:
        day = date.fromisoformat(text)
    except ValueError:
        fail("--on: not a date (YYYY-MM-DD)")
    if day > today:
        fail("--on: a day still to come; retire the organisation on that day")
    return day


def _report(s: Settings, done: Retired) -> None:
    r = done.retirement
    out.print(
        f"retired {r.organisation} ({r.kind}) on {r.retired_on}; audited as record "
        f"{done.record_id} on {s.topics.audit}",
        highlight=False,
    )
    out.print(f"  directory version: {r.directory_version}", highlight=False)
    out.print(f"  policy version:    {r.policy_version}", highlight=False)
    if r.successor:
        out.print(f"  successor: {r.successor} (history only: nothing is re-routed to it)")
    out.print(
        f"from the auditor store {done.store} ({done.records} messages; `broker audit sync` "
        f"first for the latest): {done.delivered} copies delivered, {len(r.unread)} never "
        f"opened, {len(r.unreceived)} of them never received",
        highlight=False,
    )
    unreceived = set(r.unreceived)
    for did in r.unread[:SHOWN]:
        state = "never received" if did in unreceived else "received, never opened"
        out.print(f"  {did}  {state}", highlight=False)
    if len(r.unread) > SHOWN:
        out.print(f"  … and {len(r.unread) - SHOWN} more (every id is in the audit event)")
    out.print("next:")
    for step in (
        "restart the worker and the receipts relay (they read the directory at start)",
        "broker acl apply --prune   (deletes its ACLs: it can read nothing more)",
        f"broker keys list, then broker keys retire KEY_ID for {r.organisation}'s key",
    ):
        out.print(f"  {step}", highlight=False)


def retire(
    organisation: Annotated[str, typer.Argument(help="the organisation's id")],
    reason: Annotated[
        str, typer.Option("--reason", help="why, for the audit log (no personal data)")
    ],
    successor: Annotated[
        str | None, typer.Option("--successor", help="the organisation that took over its work")
    ] = None,
    on: Annotated[
        str | None, typer.Option("--on", help="the day it stopped (YYYY-MM-DD) [default: today]")
    ] = None,
    store: StoreOpt = None,
) -> None:
    """Retire an organisation: audited, its unread copies named; it receives nothing more."""
    from broker.adapters.stores.auditfiles import store_target

    s = settings()
    try:
        done = retire_organisation(
            s,
            organisation,
            reason=reason,
            successor=successor,
            on=_day(on),
            store=store or store_target(s),
            publish=kafka_publisher(s),
            now=datetime.now(UTC),
        )
    except AuditUnwritten as exc:
        fail(f"the audit topic was not written ({exc}): the directory is unchanged", 1)
    except ValueError as exc:  # the event would not fit: nothing was written
        fail(f"{exc}: the directory is unchanged")
    _report(s, done)
