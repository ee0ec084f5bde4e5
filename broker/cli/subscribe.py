"""`broker subscribe`: an organisation verifies, decrypts and reads its deliveries, and reports
receipts."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from broker.adapters.stores import keyfiles
from broker.cli._common import (
    BeginOpt,
    IdleOpt,
    LangOpt,
    MaxOpt,
    err,
    fail,
    follow,
    out,
    settings,
    translator,
)

if TYPE_CHECKING:
    from broker.adapters.settings import Settings
    from broker.core.crypto.sealing import DeliveryOpener
    from broker.core.i18n import Translator
    from broker.core.pipeline import OutMessage


def subscribe(
    organisation: Annotated[
        str, typer.Argument(help="the organisation's id in policies/directory.yaml")
    ],
    max_records: MaxOpt = None,
    idle_timeout: IdleOpt = None,
    from_beginning: BeginOpt = True,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON line per delivery")] = False,
    send_receipts: Annotated[
        bool, typer.Option("--receipts/--no-receipts", help="report received and opened")
    ] = True,
    lang: LangOpt = None,
) -> None:
    """Recipients: verify, decrypt and print this organisation's deliveries as they arrive
    (in bokmål or English; --json prints the delivery as it is)."""
    from broker.adapters.kafka.clients import producer, send_all
    from broker.core.crypto import sealing
    from broker.core.deployment.acl import Principals
    from broker.core.envelope import header_map
    from broker.core.errors import NoticeError

    s = settings()
    t = translator(lang)
    topic, opener = _opener(s, organisation)
    receipts: list[OutMessage] = []

    def show(record: Any) -> None:
        try:
            delivery = opener.open(header_map(record.headers), record.value)
        except (NoticeError, sealing.DecryptionError) as exc:
            err.print(
                f"[red]rejected {record.topic}/{record.partition}/{record.offset}: {exc.code}[/]",
                highlight=False,
            )
            return
        if send_receipts:
            receipts.extend(_receipts(s, organisation, delivery["delivery_id"]))
        if as_json:
            print(json.dumps(delivery, ensure_ascii=False), flush=True)
        else:
            _print(delivery, t)

    principal = Principals.recipient(organisation)
    asyncio.run(
        follow([topic], show, max_records, idle_timeout, from_beginning, principal=principal)
    )

    async def send() -> None:
        async with producer(s.bootstrap, principal=principal) as p:
            await send_all(p, receipts)

    if receipts:  # received → opened, for the access log (broker audit relay-receipts)
        asyncio.run(send())


def _opener(s: Settings, organisation: str) -> tuple[str, DeliveryOpener]:
    """The organisation's delivery topic, and what verifies the broker's signature and then
    decrypts with this organisation's own key(s)."""
    from broker.adapters.policy_files import load_directory, load_policy
    from broker.core.crypto import sealing

    directory = load_directory(load_policy(s.policy_dir))
    if organisation in directory.retired:  # no topic of its own any more, nor ACLs to read one
        when = directory.retired[organisation].retired
        fail(f"organisation: '{organisation}' was retired on {when}; it receives nothing more")
    if organisation not in directory.topics:
        filling = sorted(o.id for o in directory.of_kind(organisation))
        hint = (
            f"'{organisation}' is a recipient role; the organisations filling it: "
            + ", ".join(filling[:5])
            + (", …" if len(filling) > 5 else "")
            if filling
            else "see `broker directory list`"
        )
        fail(f"organisation: '{organisation}' is not in the directory ({hint})")
    topic = s.topics.delivery(directory.topics[organisation])
    paths = s.key_paths()
    registry = keyfiles.load_registry(paths.registry)
    opener = sealing.DeliveryOpener(
        registry, organisation, keyfiles.decryption_keys(paths, registry, organisation)
    )
    return topic, opener


def _receipts(s: Settings, organisation: str, delivery_id: str) -> list[OutMessage]:
    """The received and opened receipts for one delivery, to the organisation's receipts
    topic."""
    from broker.core.audit import access
    from broker.core.audit.events import ce_headers
    from broker.core.pipeline import OutMessage

    messages = []
    for state in (access.State.received, access.State.opened):
        now = datetime.now(UTC)
        rid, value = access.receipt(delivery_id, state, now)
        messages.append(
            OutMessage(
                s.topics.receipts(organisation),
                None,
                value,
                ce_headers(access.RECEIPT_TYPE, rid, now),
            )
        )
    return messages


def _print(delivery: dict[str, Any], t: Translator) -> None:
    """A delivery for a person: the duty first, the rule and the law in words, the notice as
    sent (its fields are the notice's own), the withheld fields by their labels."""
    from rich.markup import escape

    from broker.core.citations import law
    from broker.core.labels import citation_status, field_label, notice_type_label
    from broker.core.records import LegalBasisRef

    # a delivery sealed before bases were cited as the law reads names them as it was then
    basis = LegalBasisRef.model_validate(delivery["legal_basis"])
    out.rule(
        t.gettext(
            "delivery %(id)s · %(kind)s",
            id=delivery["delivery_id"][:12],
            kind=notice_type_label(delivery["notice_type"], t),
        )
    )
    _print_duty(delivery.get("confidentiality"), t)
    said = t.gettext(
        "rule %(rule)s under %(law)s (%(status)s, %(source)s)",
        rule=delivery["rule_id"],
        law=law(basis.statute, basis.citation, t),
        status=citation_status(basis.status, t),
        source=basis.source or t.gettext("no source named"),
    )
    out.print(escape(said), highlight=False)
    # why, in the reader's language: a copy sealed before purpose_nb has the English only
    why = (delivery.get("purpose_nb") if t.lang == "nb" else None) or delivery.get("purpose")
    if why:
        out.print(escape(t.gettext("purpose: %(purpose)s", purpose=why)), highlight=False)
    out.print_json(data=delivery["notice"])
    withheld = [
        t.gettext("%(label)s (%(path)s)", label=field_label(p, t.lang), path=p)
        for p in delivery["fields_withheld"]
    ]
    text = t.gettext("withheld: %(fields)s", fields=", ".join(withheld) or t.gettext("nothing"))
    out.print(f"[dim]{escape(text)}[/]", highlight=False)


def _print_duty(confidentiality: Any, t: Translator) -> None:
    """A duty of confidentiality the police imposed (prl § 35 second paragraph) comes first and
    stands out: whoever reads the copy must know before reading on."""
    if not confidentiality:
        return
    from rich.markup import escape
    from rich.panel import Panel

    from broker.core.citations import law
    from broker.core.records import Confidentiality

    duty = Confidentiality.model_validate(confidentiality)
    cited = law(duty.basis.statute, duty.basis.citation, t)
    out.print(
        Panel(
            f"[bold]{escape(duty.text)}[/]\n{escape(cited)}",
            # both languages, always: whoever picks the copy up must see it
            title="TAUSHETSPLIKT PÅLAGT · CONFIDENTIALITY IMPOSED",
            border_style="bold red",
        ),
        highlight=False,
    )
