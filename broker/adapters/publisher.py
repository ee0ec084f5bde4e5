"""Building notice messages for publishing: validated notices, or raw files for drills.

Each message names its sender class in ``ce_source`` (``/<sender>/<unit>``), and is published
with that class's Kafka principal (``Principals.publisher``): see ``by_sender``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from broker.adapters.settings import Settings
from broker.adapters.stores import keyfiles
from broker.core import envelope
from broker.core.crypto import refs, sealing, signing
from broker.core.crypto.registry import KeyKind, Registry
from broker.core.errors import BrokerError, NoticeError
from broker.core.notices import NOTICE_MODELS, NOTICE_SENDERS, SENDERS, Notice, ce_type
from broker.core.pipeline import OutMessage


def load_notice(path: Path) -> Notice:
    """A notice file, validated as the worker will: size, strict JSON, the model."""
    try:
        size = path.stat().st_size
        if size > envelope.MAX_NOTICE_BYTES:
            raise BrokerError(
                f"{path}: larger than a notice may be ({size} > {envelope.MAX_NOTICE_BYTES} bytes)"
            )
        data = envelope.loads_strict(path.read_text(encoding="utf-8"))
    except NoticeError as exc:
        raise BrokerError(f"{path}: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BrokerError(f"{path}: not a readable JSON file ({type(exc).__name__})") from None
    kind = (data.get("notice_type"), 1) if isinstance(data, dict) else None
    model = NOTICE_MODELS.get(kind) if kind else None  # type: ignore[arg-type]
    if model is None:
        raise BrokerError(
            f"{path}: notice_type: must be one of {sorted({t for t, _ in NOTICE_MODELS})}"
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(str(p) for p in envelope.field_problems(exc))
        raise BrokerError(f"{path}: {problems}") from None


def raw_message(path: Path, settings: Settings) -> OutMessage:
    """An unvalidated file as a notice message, to drill the dead-letter path. It is signed
    with its issuing unit's key when there is one, so that validation is what refuses it.
    Its sender class (and so its Kafka principal) is that of its notice type, else that of
    its issuing unit's key; a file with neither is not sent."""
    value = path.read_bytes()
    try:
        data = json.loads(value)
    except ValueError:
        data = {}
    data = data if isinstance(data, dict) else {}
    notice_type = str(data.get("notice_type", "unknown"))
    issuer = data.get("issuer")
    unit = str(issuer.get("unit_id")) if isinstance(issuer, dict) else None
    paths = settings.key_paths()
    registry = keyfiles.load_registry(paths.registry, missing_ok=True)
    entry = registry.active(KeyKind.publisher, unit) if unit else None
    sender = NOTICE_SENDERS.get(notice_type) or (entry.sender if entry else None)
    if sender is None:  # deny by default: no class, no principal to publish it with
        raise BrokerError(
            f"{path}: notice_type: not a known notice type, and issuer.unit_id names no "
            "registered publisher: no sender class to publish it as"
        )
    headers = envelope.binary_headers(
        ce_type(notice_type, 1),
        f"/{sender}/{unit or 'unknown'}",
        str(data.get("notice_id", path.name)),
        datetime.now(UTC),
    )
    if unit and entry is not None:
        signer = keyfiles.signing_key(paths, registry, KeyKind.publisher, unit)
        headers = signing.sign(headers, value, signer)
    return sealed_for_broker(
        OutMessage(settings.topics.notices, None, value, headers), settings, registry
    )


def sealed_for_broker(
    message: OutMessage, settings: Settings, registry: Registry | None = None
) -> OutMessage:
    """The message with its (signed) value sealed to the broker's encryption key: on Kafka,
    notices are ciphertext too."""
    if registry is None:
        registry = keyfiles.load_registry(settings.key_paths().registry)
    headers, value = sealing.seal_notice(message.headers, message.value, registry)
    return OutMessage(message.topic, message.key, value, headers)


def notice_message(notice: Notice, settings: Settings) -> OutMessage:
    """A validated notice as a CloudEvent, keyed by a keyed hash of the child."""
    key = refs.partition_key(settings.subject_key(), "notices", notice.child.national_id)
    k, v, h = envelope.encode_notice(notice, key, datetime.now(UTC))
    paths = settings.key_paths()
    registry = keyfiles.load_registry(paths.registry)
    signer = keyfiles.signing_key(paths, registry, KeyKind.publisher, notice.issuer.unit_id)
    signed = OutMessage(settings.topics.notices, k, v, signing.sign(h, v, signer))
    return sealed_for_broker(signed, settings, registry)


def sender_of(message: OutMessage) -> str:
    """The sender class a notice message is published as: the first segment of its
    ``ce_source`` (``/<sender>/<unit>``), which the worker checks against the signing key."""
    source = dict(message.headers).get("ce_source", b"").decode("utf-8", "replace").split("/")
    if len(source) != 3 or source[0] or source[1] not in SENDERS:
        raise BrokerError(
            f"ce_source: must be /<sender>/<unit> with a sender class ({', '.join(SENDERS)})"
        )
    return source[1]


def by_sender(messages: Iterable[OutMessage]) -> dict[str, list[OutMessage]]:
    """Messages grouped by sender class, in order within each: each group is published with
    its class's own Kafka principal (``Principals.publisher``), one producer per class."""
    groups: dict[str, list[OutMessage]] = {}
    for message in messages:
        groups.setdefault(sender_of(message), []).append(message)
    return groups
