"""Ed25519 signatures on CloudEvents in Kafka binary mode: notices (publishers), deliveries
(the broker) and audit records (each audit writer; broker.core.audit.writers).

The signature covers a canonical byte string: a domain label (notice, delivery or audit
record, so one can never pass for another), then, length-prefixed, the ``ce_id``, ``ce_type``,
``ce_source`` and ``ce_time`` headers, the key id and the value bytes exactly as sent. It travels
with the key id as CloudEvents extension attributes ``signature`` and ``keyid`` (headers
``ce_signature``, ``ce_keyid``; extension names are lowercase alphanumerics only).

Verification fails with a NoticeError (a VerificationError) whose code says what was wrong, so
the pipeline dead-letters and audits it: ``signature-missing``, ``signature-malformed``,
``key-unknown``, ``key-retired``, ``key-owner-mismatch``, ``signature-invalid``,
``time-invalid``, ``notice-stale``, ``notice-replayed``, ``issuer-mismatch``,
``sender-not-authorised``.

Sender authority: a publisher key is bound to a sender class in the registry. ``ce_source``
must be ``/<sender>/<unit>`` with the key's own class and unit (another unit:
``key-owner-mismatch``; another class: ``sender-not-authorised``), and once the notice is
decoded, ``check_sender`` refuses a notice type that the key's class may not send
(``sender-not-authorised``), so a school's key cannot sign a police incident notice.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from cryptography.exceptions import InvalidSignature

from broker.core.crypto.registry import (
    KEY_ID_PATTERN,
    KeyKind,
    KeyStatus,
    Registry,
    RegistryEntry,
    SigningKey,
    b64d,
    b64e,
)
from broker.core.errors import FieldProblem, NoticeError
from broker.core.notices import NOTICE_SENDERS
from broker.core.times import CLOCK_SKEW

SIGNATURE_HEADER = "ce_signature"
KEYID_HEADER = "ce_keyid"
SIGNED_HEADERS = ("ce_id", "ce_type", "ce_source", "ce_time")
NOTICE = b"oslo-share-broker/notice/v1"
DELIVERY = b"oslo-share-broker/delivery/v1"
AUDIT_RECORD = b"oslo-share-broker/audit-record/v1"

KEY_ID_RE = re.compile(KEY_ID_PATTERN.removeprefix("^").removesuffix("$"))

Headers = tuple[tuple[str, bytes], ...]


class VerificationError(NoticeError):
    """A message's signature, key, time or novelty does not check out: dead-letter it."""


def frame(*parts: bytes) -> bytes:
    """Length-prefixed concatenation: no two different part lists give the same bytes."""
    return b"".join(len(p).to_bytes(8, "big") + p for p in parts)


def signed_bytes(purpose: bytes, headers: Mapping[str, bytes], value: bytes, key_id: str) -> bytes:
    return frame(purpose, *(headers.get(h, b"") for h in SIGNED_HEADERS), key_id.encode(), value)


def sign(
    headers: Iterable[tuple[str, bytes]], value: bytes, key: SigningKey, purpose: bytes = NOTICE
) -> Headers:
    """The headers with ``ce_keyid`` and ``ce_signature`` added (any old ones replaced)."""
    kept = tuple((k, v) for k, v in headers if k not in (SIGNATURE_HEADER, KEYID_HEADER))
    signature = key.sign(signed_bytes(purpose, dict(kept), value, key.key_id))
    return (
        *kept,
        (KEYID_HEADER, key.key_id.encode()),
        (SIGNATURE_HEADER, b64e(signature).encode()),
    )


@dataclass(frozen=True)
class Verified:
    """Who signed a message, with which key, claiming which id and time. For a publisher key
    also the unit's sender class and organisation from the registry (None for the broker)."""

    key_id: str
    owner: str
    kind: KeyKind
    message_id: str
    time: datetime
    sender: str | None = None
    organisation: str | None = None


def _fail(code: str, where: str, reason: str) -> VerificationError:
    return VerificationError(code, [FieldProblem(where, reason)])


def _text(headers: Mapping[str, bytes], name: str) -> str:
    return headers.get(name, b"").decode("utf-8", "replace")


def _check_source(source: str, entry: RegistryEntry) -> None:
    """``ce_source`` of a notice is ``/<sender>/<unit>``: the unit must own the signing key
    and the class must be the one the registry binds that unit to."""
    parts = source.split("/")
    if len(parts) != 3 or parts[0] or parts[2] != entry.owner:
        raise _fail(
            "key-owner-mismatch", "ce_source", f"key '{entry.key_id}' belongs to another unit"
        )
    if entry.sender is None or parts[1] != entry.sender:
        raise _fail(
            "sender-not-authorised",
            "ce_source",
            "names a sender class other than the one the signing unit is registered as",
        )


def verify(
    headers: Mapping[str, bytes],
    value: bytes,
    registry: Registry,
    *,
    kind: KeyKind,
    purpose: bytes = NOTICE,
    now: datetime | None = None,
    max_age: timedelta | None = None,
    max_skew: timedelta = CLOCK_SKEW,
) -> Verified:
    """Check a signed message against the registry, or raise VerificationError.

    The time window is checked only when ``now`` and ``max_age`` are given (notices; a
    subscriber reading old deliveries passes neither). Checks run in an order that never lets
    an unauthenticated header decide anything beyond the key lookup.
    """
    raw_sig, raw_kid = headers.get(SIGNATURE_HEADER), headers.get(KEYID_HEADER)
    if not raw_sig or not raw_kid:
        missing = SIGNATURE_HEADER if not raw_sig else KEYID_HEADER
        raise _fail("signature-missing", missing, "required; the message is unsigned")
    key_id = raw_kid.decode("ascii", "replace")
    try:
        signature = b64d(raw_sig.decode("ascii"))
    except (UnicodeDecodeError, ValueError, binascii.Error):
        signature = b""
    if len(signature) != 64:
        raise _fail("signature-malformed", SIGNATURE_HEADER, "not a base64url Ed25519 signature")
    entry = registry.get(key_id)
    if entry is None or entry.kind is not kind:
        # echo the id only if it looks like one: a header is attacker-controlled text
        shown = f"'{key_id}'" if KEY_ID_RE.fullmatch(key_id) else "(not a key id)"
        raise _fail("key-unknown", KEYID_HEADER, f"no {kind} key {shown} in the registry")
    if entry.status is KeyStatus.retired:
        raise _fail("key-retired", KEYID_HEADER, f"key '{key_id}' is retired")
    if kind is KeyKind.publisher:
        _check_source(_text(headers, "ce_source"), entry)
    try:
        entry.verifying_key().verify(signature, signed_bytes(purpose, headers, value, key_id))
    except InvalidSignature:
        raise _fail(
            "signature-invalid", SIGNATURE_HEADER, f"does not verify with key '{key_id}'"
        ) from None
    try:
        when = datetime.fromisoformat(_text(headers, "ce_time"))
    except ValueError:
        raise _fail("time-invalid", "ce_time", "missing or not an RFC 3339 time") from None
    if when.tzinfo is None:
        raise _fail("time-invalid", "ce_time", "has no time zone")
    if now is not None and max_age is not None:
        if when < now - max_age:
            raise _fail("notice-stale", "ce_time", f"older than {max_age}")
        if when > now + max_skew:
            raise _fail("notice-stale", "ce_time", f"more than {max_skew} in the future")
    return Verified(
        key_id,
        entry.owner,
        kind,
        _text(headers, "ce_id"),
        when.astimezone(UTC),
        entry.sender,
        entry.organisation,
    )


def check_issuer(verified: Verified, issuer_unit_id: str) -> None:
    """After decoding: the notice's own ``issuer.unit_id`` must be the signing unit."""
    if issuer_unit_id != verified.owner:
        raise _fail("issuer-mismatch", "issuer.unit_id", "is not the unit that signed the notice")


def check_sender(verified: Verified, notice_type: str) -> None:
    """After decoding: the signing unit's sender class must be the one that sends this notice
    type (NOTICE_SENDERS). Deny by default: an unknown type, or a key without a class, fails."""
    expected = NOTICE_SENDERS.get(notice_type)
    if expected is None or verified.sender != expected:
        raise _fail(
            "sender-not-authorised",
            "ce_type",
            "the signing unit's sender class may not send this notice type",
        )


# --- replays ---------------------------------------------------------------------------------


class ReplayGuard(Protocol):
    """Remembers notice ids already accepted, and where they were read."""

    def claim(self, message_id: str, position: str, forget_after: datetime) -> bool:
        """Record ``message_id`` as read at ``position``. True if it is new, or was seen at the
        same position (Kafka redelivered the same record); False if seen elsewhere (a replay).
        The guard may forget the id after ``forget_after``: older messages are stale anyway."""
        ...


@dataclass
class MemoryReplayGuard:
    """A ReplayGuard in memory (tests, a single worker). The shell backs it with a store so
    that a restart does not forget what was seen.

    Not shared between threads, so it needs no lock: the worker claims, prunes and preloads
    it from its event loop only."""

    _seen: dict[str, tuple[str, datetime]] = field(default_factory=dict)

    def claim(self, message_id: str, position: str, forget_after: datetime) -> bool:
        seen = self._seen.get(message_id)
        if seen is not None and seen[0] != position:
            return False
        self._seen[message_id] = (position, forget_after)
        return True

    def prune(self, now: datetime) -> int:
        """Forget ids whose window has passed; returns how many."""
        old = [k for k, (_, until) in self._seen.items() if until < now]
        for k in old:
            del self._seen[k]
        return len(old)

    def __len__(self) -> int:
        return len(self._seen)


@dataclass
class NoticeVerifier:
    """Everything the pipeline checks before it reads a notice: signature by a registered,
    unretired publisher key, a time inside the window, and a notice id not seen elsewhere."""

    registry: Registry
    guard: ReplayGuard
    max_age: timedelta = timedelta(hours=48)
    max_skew: timedelta = CLOCK_SKEW

    def verify(
        self,
        headers: Mapping[str, bytes],
        value: bytes,
        *,
        position: str,
        now: datetime,
        routed: Callable[[str], None] | None = None,
    ) -> Verified:
        """``routed``: a check of the verified id against the way the input was routed to
        this worker (broker.core.repartition.Route.check), run before the id is claimed."""
        verified = verify(
            headers,
            value,
            self.registry,
            kind=KeyKind.publisher,
            purpose=NOTICE,
            now=now,
            max_age=self.max_age,
            max_skew=self.max_skew,
        )
        if routed is not None:  # a misrouted notice claims no id in a guard that does not own it
            routed(verified.message_id)
        # claimed only once everything else holds: forged messages cannot burn a real id
        forget_after = verified.time + self.max_age + self.max_skew
        if not self.guard.claim(verified.message_id, position, forget_after):
            raise _fail("notice-replayed", "ce_id", "this notice id was already received")
        return verified
