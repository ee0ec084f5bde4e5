"""End-to-end encryption of deliveries: only the receiving organisation (and, until its
retention period ends, the broker's data-key store) can read a delivery; Kafka and its
operators see ciphertext.

Keys, for a notice N delivered to organisation R (delivery id D; R fills one recipient role):

* a random 256-bit **data key** per notice, kept in the data-key store (broker.core.retention)
  until the notice's retention period ends; ``broker retention purge`` destroys it. The
  caller fetches it and passes it in: sealing itself keeps no state and does no I/O;
* a **content key** per delivery, HKDF-SHA256(data key, info = D, R): organisations receiving
  the same notice get different keys, so one's key opens nothing meant for another;
* the delivery (the whole Delivery document, metadata included) is encrypted with AES-256-GCM
  under the content key;
* a random 256-bit **batch key** per organisation and batch (``SealBatch``: the worker's one
  transaction), sealed once to R's X25519 public key with HPKE (RFC 9180, base mode,
  DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM), the sealed form carried in each of
  the batch's deliveries to R; each content key is wrapped under it with AES-256-GCM. One key
  encapsulation per organisation and batch instead of one per delivery (issue #15: 54 µs
  each); the subscriber opens it once per batch (``DeliveryOpener`` keeps the last few).

The HPKE ``info`` binds the organisation and its key id; the associated data of the wrapped
content key and of the ciphertext bind the delivery id as well, so a ciphertext or a wrapped
key moved to another delivery or organisation fails to open. A batch key is never shared by
two organisations: two organisations' copies have nothing in clear in common. Deliveries
sealed before batch keys (``sealed: 1``, the content key sealed by HPKE itself) still open.
The broker signs the whole message (Ed25519, broker.core.crypto.signing, delivery domain).
Nothing in clear joins two organisations' copies of one notice: no notice id, no shared key id.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from broker.core import envelope
from broker.core.crypto import signing
from broker.core.crypto.registry import (
    BROKER_OWNER,
    KEY_ID_PATTERN,
    DecryptionKey,
    KeyKind,
    Registry,
    SigningKey,
    b64d,
    b64e,
)
from broker.core.errors import BrokerError, ConfigError
from broker.core.records import SealedCopy
from broker.core.retention import DEAD_LETTER_KIND

ALG: Literal["HPKE-X25519-SHA256-A256GCM+A256GCM"] = "HPKE-X25519-SHA256-A256GCM+A256GCM"
BATCH_ALG: Literal["HPKE-X25519-SHA256-A256GCM+A256GCM-KW+A256GCM"] = (
    "HPKE-X25519-SHA256-A256GCM+A256GCM-KW+A256GCM"
)
SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
_CONTEXT = b"oslo-share-broker/sealed-delivery/v1"
_CONTENT_KEY = b"oslo-share-broker/content-key/v1"
_BATCH_KEY = b"oslo-share-broker/batch-key/v1"
OPENED_BATCH_KEYS = 64  # batch keys a subscriber keeps opened: a few batches' worth
_COPY = b"oslo-share-broker/dead-letter-copy/v1"


class DecryptionError(BrokerError):
    """A delivery cannot be opened here: not sealed, not for this recipient's keys, tampered
    with, or its data key destroyed. ``code`` says which; the message holds no key or value."""

    def __init__(self, code: str, reason: str) -> None:
        self.code = code
        super().__init__(f"{code}: {reason}")


class SealedDelivery(BaseModel):
    """What a delivery topic carried before batch keys, and a notice sealed to the broker
    still is: ciphertext and the content key sealed by HPKE."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sealed: Literal[1] = 1
    alg: Literal["HPKE-X25519-SHA256-A256GCM+A256GCM"] = ALG
    recipient_key_id: str = Field(pattern=KEY_ID_PATTERN)
    wrapped_key: str = Field(description="HPKE encapsulation and sealed content key, base64url")
    nonce: str = Field(description="AES-GCM nonce, base64url")
    ciphertext: str = Field(description="AES-256-GCM ciphertext of the Delivery, base64url")


class BatchSealedDelivery(BaseModel):
    """What a delivery topic carries: ciphertext, the content key wrapped under the batch key,
    and the batch key sealed by HPKE (the same in every delivery of the batch to this
    organisation)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sealed: Literal[2] = 2
    alg: Literal["HPKE-X25519-SHA256-A256GCM+A256GCM-KW+A256GCM"] = BATCH_ALG
    recipient_key_id: str = Field(pattern=KEY_ID_PATTERN)
    batch_key: str = Field(
        description="HPKE encapsulation and sealed batch key, base64url", max_length=256
    )
    wrapped_key: str = Field(
        description="AES-GCM nonce and the content key sealed under the batch key, base64url",
        max_length=128,
    )
    nonce: str = Field(description="AES-GCM nonce, base64url")
    ciphertext: str = Field(description="AES-256-GCM ciphertext of the Delivery, base64url")


Sealed = SealedDelivery | BatchSealedDelivery
_SEALED: TypeAdapter[Sealed] = TypeAdapter(
    Annotated[SealedDelivery | BatchSealedDelivery, Field(discriminator="sealed")]
)


@dataclass
class SealBatch:
    """The batch keys of one batch (the worker's one transaction), per organisation and key:
    made on the first delivery to each, reused by the rest. A batch ends with its
    transaction; a new one gets new keys, so a key never outlives its batch."""

    keys: dict[tuple[str, str], tuple[bytes, str]] = field(default_factory=dict)

    def key_for(self, owner: str, key_id: str, public: X25519PublicKey) -> tuple[bytes, str]:
        """(the batch key, its HPKE-sealed form) for ``owner``'s key ``key_id``."""
        found = self.keys.get((owner, key_id))
        if found is None:
            key = secrets.token_bytes(32)
            found = key, b64e(SUITE.encrypt(key, public, info=_batch_context(owner, key_id)))
            self.keys[(owner, key_id)] = found
        return found


def _context(delivery_id: str, owner: str, recipient_key_id: str) -> bytes:
    return signing.frame(_CONTEXT, delivery_id.encode(), owner.encode(), recipient_key_id.encode())


def _batch_context(owner: str, recipient_key_id: str) -> bytes:
    return signing.frame(_BATCH_KEY, owner.encode(), recipient_key_id.encode())


def content_key(data_key: bytes, delivery_id: str, owner: str) -> bytes:
    """The per-delivery key, derived one way from the notice's data key."""
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=None,
        info=signing.frame(_CONTENT_KEY, delivery_id.encode(), owner.encode()),
    )
    return hkdf.derive(data_key)


def seal(
    plaintext: bytes,
    *,
    data_key: bytes,
    delivery_id: str,
    owner: str,
    recipient_key_id: str,
    recipient_public: X25519PublicKey,
) -> SealedDelivery:
    """Encrypt one delivery to its owner's X25519 public key (the receiving organisation's,
    or the broker inbox's for a notice)."""
    ctx = _context(delivery_id, owner, recipient_key_id)
    key = content_key(data_key, delivery_id, owner)
    nonce = secrets.token_bytes(12)
    return SealedDelivery(
        recipient_key_id=recipient_key_id,
        wrapped_key=b64e(SUITE.encrypt(key, recipient_public, info=ctx)),
        nonce=b64e(nonce),
        ciphertext=b64e(AESGCM(key).encrypt(nonce, plaintext, ctx)),
    )


def seal_in_batch(
    plaintext: bytes,
    *,
    data_key: bytes,
    delivery_id: str,
    owner: str,
    recipient_key_id: str,
    recipient_public: X25519PublicKey,
    batch: SealBatch,
) -> BatchSealedDelivery:
    """Encrypt one delivery to its organisation under the batch's key for it (made and sealed
    to ``recipient_public`` on the batch's first delivery to that organisation)."""
    ctx = _context(delivery_id, owner, recipient_key_id)
    key = content_key(data_key, delivery_id, owner)
    wrap_key, sealed_batch_key = batch.key_for(owner, recipient_key_id, recipient_public)
    key_nonce, nonce = secrets.token_bytes(12), secrets.token_bytes(12)
    return BatchSealedDelivery(
        recipient_key_id=recipient_key_id,
        batch_key=sealed_batch_key,
        wrapped_key=b64e(key_nonce + AESGCM(wrap_key).encrypt(key_nonce, key, ctx)),
        nonce=b64e(nonce),
        ciphertext=b64e(AESGCM(key).encrypt(nonce, plaintext, ctx)),
    )


def parse_sealed(value: bytes) -> Sealed:
    try:
        return _SEALED.validate_json(value)
    except ValidationError:
        raise DecryptionError("sealed-invalid", "the value is not a sealed delivery") from None


def _decrypt(sealed: Sealed, key: bytes, ctx: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(b64d(sealed.nonce), b64d(sealed.ciphertext), ctx)
    except (InvalidTag, ValueError):
        raise DecryptionError(
            "decryption-failed", "ciphertext does not authenticate for this delivery"
        ) from None


def _hpke_open(sealed_key: str, private: DecryptionKey, info: bytes) -> bytes:
    try:
        return SUITE.decrypt(b64d(sealed_key), private.private, info=info)
    except Exception:  # the binding raises more than one type; all mean "does not open"
        raise DecryptionError(
            "decryption-failed", "the wrapped key does not open with this recipient's key"
        ) from None


def open_sealed(
    sealed: Sealed,
    *,
    delivery_id: str,
    owner: str,
    keys: Sequence[DecryptionKey],
    batch_keys: dict[tuple[str, str, str], bytes] | None = None,
) -> bytes:
    """The owner's side: unwrap the content key with the matching private key (through the
    batch key, for a delivery sealed in a batch), then decrypt. ``batch_keys``: batch keys
    already opened, by (owner, key id, sealed batch key); one opened here is added (the caller
    bounds it)."""
    mine = next((k for k in keys if k.key_id == sealed.recipient_key_id), None)
    if mine is None or mine.owner != owner:
        raise DecryptionError(
            "not-for-this-recipient",
            f"sealed to key '{sealed.recipient_key_id}', which this host does not hold",
        )
    ctx = _context(delivery_id, owner, sealed.recipient_key_id)
    if isinstance(sealed, SealedDelivery):
        return _decrypt(sealed, _hpke_open(sealed.wrapped_key, mine, ctx), ctx)
    opened = {} if batch_keys is None else batch_keys
    known = (owner, sealed.recipient_key_id, sealed.batch_key)
    wrap_key = opened.get(known)
    if wrap_key is None:
        wrap_key = _hpke_open(sealed.batch_key, mine, _batch_context(owner, mine.key_id))
        opened[known] = wrap_key
    try:
        wrapped = b64d(sealed.wrapped_key)
        key = AESGCM(wrap_key).decrypt(wrapped[:12], wrapped[12:], ctx)
    except (InvalidTag, ValueError):
        raise DecryptionError(
            "decryption-failed", "the wrapped key does not open for this delivery"
        ) from None
    return _decrypt(sealed, key, ctx)


def open_with_data_key(
    sealed: Sealed, *, delivery_id: str, owner: str, data_key: bytes | None
) -> bytes:
    """Broker side (an auditor answering an access request, within retention): decrypt with
    the notice's data key from the store. After purge there is no key, and no plaintext."""
    if data_key is None:
        raise DecryptionError(
            "data-key-destroyed", "the notice's data key is gone (retention ended)"
        )
    ctx = _context(delivery_id, owner, sealed.recipient_key_id)
    return _decrypt(sealed, content_key(data_key, delivery_id, owner), ctx)


def seal_copy(payload: bytes, *, data_key: bytes, data_key_id: str) -> SealedCopy:
    """A dead letter's copy of its input, under the copy's own data key."""
    nonce = secrets.token_bytes(12)
    key = content_key(data_key, data_key_id, DEAD_LETTER_KIND)
    aad = signing.frame(_COPY, data_key_id.encode())
    return SealedCopy(
        data_key_id=data_key_id,
        nonce=b64e(nonce),
        ciphertext=b64e(AESGCM(key).encrypt(nonce, payload, aad)),
    )


def open_copy(copy: SealedCopy, data_key: bytes | None) -> bytes:
    """An operator's view of a dead letter's input, while its data key lives."""
    if data_key is None:
        raise DecryptionError("data-key-destroyed", "the copy's data key is gone (retention ended)")
    key = content_key(data_key, copy.data_key_id, DEAD_LETTER_KIND)
    aad = signing.frame(_COPY, copy.data_key_id.encode())
    try:
        return AESGCM(key).decrypt(b64d(copy.nonce), b64d(copy.ciphertext), aad)
    except (InvalidTag, ValueError):
        raise DecryptionError("decryption-failed", "the copy does not authenticate") from None


def commitment(value: bytes) -> str:
    """What the audit record commits to: a hash of the sealed bytes, never of plaintext."""
    return "sha256:" + hashlib.sha256(value).hexdigest()


# --- the two ends, for the shell -------------------------------------------------------------


@dataclass(frozen=True)
class SealedMessage:
    key: bytes | None
    value: bytes
    headers: envelope.Headers
    commitment: str


@dataclass(frozen=True)
class DeliverySealer:
    """The worker's end: seal each delivery to its organisation's active key, sign it as the
    broker, and say what the audit record should commit to. Holds keys only: every call gets
    the notice's data key and returns its message, so calls need no order."""

    registry: Registry
    broker_key: SigningKey

    def missing_keys(self, organisations: Sequence[str]) -> list[str]:
        """Organisations with no active encryption key: the worker must not start without them."""
        return sorted(
            o for o in set(organisations) if not self.registry.active(KeyKind.recipient, o)
        )

    def seal(
        self,
        delivery: BaseModel,
        *,
        data_key: bytes,
        delivery_id: str,
        organisation: str,
        event_type: str,
        source: str,
        time: datetime,
        key: bytes | None,
        batch: SealBatch | None = None,
    ) -> SealedMessage:
        """One delivery as its signed, sealed message to ``organisation``, under ``data_key``
        (its notice's) and ``batch``'s key for the organisation (a batch of its own if None)."""
        entry = self.registry.active(KeyKind.recipient, organisation)
        if entry is None:
            raise ConfigError(f"organisation '{organisation}' has no active encryption key")
        sealed = seal_in_batch(
            delivery.model_dump_json(exclude_none=True).encode(),
            data_key=data_key,
            delivery_id=delivery_id,
            owner=organisation,
            recipient_key_id=entry.key_id,
            recipient_public=entry.encryption_key(),
            batch=batch if batch is not None else SealBatch(),
        )
        k, v, h = envelope.encode(event_type, source, delivery_id, time, data=sealed, key=key)
        h = signing.sign(h, v, self.broker_key, purpose=signing.DELIVERY)
        return SealedMessage(k, v, h, commitment(v))


class DeliveryOpener:
    """The subscriber's end: check the broker's signature, then decrypt with this
    organisation's private keys (rotated ones included). Returns the Delivery document."""

    def __init__(
        self, registry: Registry, organisation: str, keys: Sequence[DecryptionKey]
    ) -> None:
        self.registry = registry
        self.organisation = organisation
        self.keys = list(keys)
        # the last batch keys opened, oldest first: each batch's key is opened once
        self.batch_keys: dict[tuple[str, str, str], bytes] = {}

    def open(self, headers: Mapping[str, bytes], value: bytes) -> dict[str, Any]:
        verified = signing.verify(
            headers, value, self.registry, kind=KeyKind.broker, purpose=signing.DELIVERY
        )
        sealed = parse_sealed(value)
        plain = open_sealed(
            sealed,
            delivery_id=verified.message_id,
            owner=self.organisation,
            keys=self.keys,
            batch_keys=self.batch_keys,
        )
        while len(self.batch_keys) > OPENED_BATCH_KEYS:
            del self.batch_keys[next(iter(self.batch_keys))]
        delivery: dict[str, Any] = json.loads(plain)
        if delivery.get("organisation") != self.organisation:  # defence in depth; the AAD binds it
            raise DecryptionError(
                "not-for-this-recipient", "the delivery names another organisation"
            )
        return delivery


# --- notices, sealed to the broker -----------------------------------------------------------
# A notice is signed by its publisher over the plaintext, then sealed to the broker's X25519
# key, so that whoever operates Kafka (and the dead-letter topic, which keeps what it is sent)
# holds ciphertext only. The header ``ce_sealed: 1`` says so.

SEALED_HEADER = "ce_sealed"
BROKER_INBOX = BROKER_OWNER  # the broker's encryption key is registered as a recipient's


def _notice_context(notice_id: str) -> str:
    return f"notice:{notice_id}"


def seal_notice(
    headers: envelope.Headers, value: bytes, registry: Registry
) -> tuple[envelope.Headers, bytes]:
    """(headers, value) with the value sealed to the broker's active encryption key."""
    entry = registry.active(KeyKind.recipient, BROKER_INBOX)
    if entry is None:
        raise ConfigError(
            "the broker has no active encryption key (broker keys generate --recipient broker)"
        )
    notice_id = dict(headers).get("ce_id", b"").decode("utf-8", "replace")
    sealed = seal(
        value,
        data_key=secrets.token_bytes(32),
        delivery_id=_notice_context(notice_id),
        owner=BROKER_INBOX,
        recipient_key_id=entry.key_id,
        recipient_public=entry.encryption_key(),
    )
    return (*headers, (SEALED_HEADER, b"1")), sealed.model_dump_json().encode()


class NoticeOpener:
    """The worker's inbox: every notice must arrive sealed to the broker; unseal it."""

    def __init__(self, keys: Sequence[DecryptionKey]) -> None:
        self.keys = list(keys)

    def open(self, headers: Mapping[str, bytes], value: bytes) -> bytes:
        if headers.get(SEALED_HEADER) != b"1":
            raise DecryptionError("notice-not-sealed", "notices must be sealed to the broker")
        notice_id = headers.get("ce_id", b"").decode("utf-8", "replace")
        sealed = parse_sealed(value)
        if not isinstance(sealed, SealedDelivery):  # publishers seal one notice at a time
            raise DecryptionError("sealed-invalid", "a notice is sealed on its own, not in a batch")
        return open_sealed(
            sealed,
            delivery_id=_notice_context(notice_id),
            owner=BROKER_INBOX,
            keys=self.keys,
        )
