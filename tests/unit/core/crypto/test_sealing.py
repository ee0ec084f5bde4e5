"""Sealed deliveries: only the receiving organisation opens its own; Kafka sees no personal
data."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from broker.adapters.stores import keyfiles
from broker.adapters.stores.keyfiles import KeyPaths
from broker.core.crypto import sealing, signing
from broker.core.crypto.registry import DecryptionKey, KeyKind, Registry, b64d, b64e
from broker.core.paths import leaves
from broker.core.pipeline import Source
from broker.core.records import Delivery
from broker.testing.fakes import MemoryDataKeyStore, ReadyPipeline
from tests.conftest import example

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
# the organisations the 'recruited' example (a pupil of osloskolen-9001 in Grorud) reaches
ORGANISATIONS = ("skole-9001", "bydel-grorud-barnevern", "bfe-barnevernvakta", "salto-oslo")


@dataclass
class World:
    paths: KeyPaths
    registry: Registry
    store: MemoryDataKeyStore
    sealer: sealing.DeliverySealer

    def opener(self, organisation: str) -> sealing.DeliveryOpener:
        keys = keyfiles.decryption_keys(self.paths, self.registry, organisation)
        return sealing.DeliveryOpener(self.registry, organisation, keys)

    def reload(self) -> None:
        self.registry = keyfiles.load_registry(self.paths.registry)
        self.sealer = sealing.DeliverySealer(self.registry, self.sealer.broker_key)


@pytest.fixture
def world(tmp_path: Path) -> World:
    paths = KeyPaths.under(tmp_path / "keys")
    keyfiles.generate(paths, KeyKind.broker, "broker", NOW)
    for o in ORGANISATIONS:
        keyfiles.generate(paths, KeyKind.recipient, o, NOW)
    registry = keyfiles.load_registry(paths.registry)
    broker_key = keyfiles.signing_key(paths, registry, KeyKind.broker, "broker")
    store = MemoryDataKeyStore()
    return World(paths, registry, store, sealing.DeliverySealer(registry, broker_key))


@pytest.fixture
def deliveries(ready: ReadyPipeline, now: datetime) -> dict[str, Delivery]:
    """The real pipeline's deliveries of the 'recruited' example, by organisation, as each
    organisation opens them."""
    result = ready.process(example("recruited", now), source=Source("t.notices", 0, 1))
    found = {}
    for message in result.deliveries:
        delivery = Delivery.model_validate(ready.open(message))
        assert delivery.organisation in ORGANISATIONS
        found[delivery.organisation] = delivery
    assert len(found) >= 2, "the example should reach at least two organisations"
    return found


def seal(world: World, delivery: Delivery, notice_id: str = "n-1") -> sealing.SealedMessage:
    return world.sealer.seal(
        delivery,
        data_key=world.store.data_key(notice_id, delivery.notice_type, NOW),
        delivery_id=delivery.delivery_id,
        organisation=str(delivery.organisation),
        event_type="no.oslo.broker.delivery.v1",
        source="/broker",
        time=NOW,
        key=b"partition-key",
    )


def test_recipient_opens_its_own_delivery(world: World, deliveries: dict[str, Delivery]) -> None:
    """Verify the broker's signature, decrypt: the recipient gets exactly what was sealed."""
    for recipient, delivery in deliveries.items():
        message = seal(world, delivery)
        opened = world.opener(recipient).open(dict(message.headers), message.value)
        assert opened == json.loads(delivery.model_dump_json(exclude_none=True))


def test_a_recipient_cannot_open_another_recipients_delivery(
    world: World, deliveries: dict[str, Delivery]
) -> None:
    """Neither with its own keys, nor by presenting its private key under the other's key id."""
    victim, thief = sorted(deliveries)[:2]
    message = seal(world, deliveries[victim])
    with pytest.raises(sealing.DecryptionError) as caught:
        world.opener(thief).open(dict(message.headers), message.value)
    assert caught.value.code == "not-for-this-recipient"
    # the thief's private key relabelled with the victim's key id: HPKE still refuses
    sealed = sealing.parse_sealed(message.value)
    thief_key = keyfiles.decryption_keys(world.paths, world.registry, thief)[0]
    disguised = DecryptionKey(victim, sealed.recipient_key_id, thief_key.private)
    with pytest.raises(sealing.DecryptionError) as caught:
        sealing.open_sealed(
            sealed, delivery_id=deliveries[victim].delivery_id, owner=victim, keys=[disguised]
        )
    assert caught.value.code == "decryption-failed"


def test_one_recipients_content_key_opens_nothing_of_anothers(
    world: World, deliveries: dict[str, Delivery]
) -> None:
    """Both copies of one notice share a data key, but the per-delivery keys are independent."""
    a, b = sorted(deliveries)[:2]
    seal(world, deliveries[a])
    message_b = seal(world, deliveries[b])
    data_key = world.store.lookup("n-1")
    assert data_key is not None
    key_a = sealing.content_key(data_key, deliveries[a].delivery_id, a)
    sealed_b = sealing.parse_sealed(message_b.value)
    ctx_b = sealing._context(deliveries[b].delivery_id, b, sealed_b.recipient_key_id)
    with pytest.raises(InvalidTag):
        AESGCM(key_a).decrypt(b64d(sealed_b.nonce), b64d(sealed_b.ciphertext), ctx_b)


def _strings(delivery: Delivery) -> list[str]:
    """Every value of the delivery but its id (the ce_id header: a hash, by design in clear)."""
    doc = delivery.model_dump(mode="json", exclude={"delivery_id"})
    values = [str(v) for _, v in leaves(doc)]
    return sorted({v for v in values if len(v) >= 4})


def test_the_sealed_message_contains_no_plaintext(
    world: World, deliveries: dict[str, Delivery], now: datetime
) -> None:
    """No value of the delivery (names, national id, phone, rule, legal basis) appears in the
    key, value or headers, in clear or base64."""
    child = example("recruited", now)["child"]
    scanned: set[str] = set()
    for delivery in deliveries.values():
        message = seal(world, delivery)
        wire = (message.key or b"") + message.value + b"".join(v for _, v in message.headers)
        wire_text = wire.decode("latin-1")
        strings = _strings(delivery)
        scanned |= set(strings)
        for text in strings:
            assert text not in wire_text
            assert base64.urlsafe_b64encode(text.encode()).decode().rstrip("=") not in wire_text
    assert {child["national_id"], child["name"]} <= scanned  # the check has teeth


def test_tampered_delivery_fails_the_broker_signature(
    world: World, deliveries: dict[str, Delivery]
) -> None:
    """A byte changed on the topic breaks the broker's signature before any decryption."""
    recipient, delivery = next(iter(deliveries.items()))
    message = seal(world, delivery)
    sealed = sealing.parse_sealed(message.value)
    ct = bytearray(b64d(sealed.ciphertext))
    ct[0] ^= 1
    forged = sealed.model_copy(update={"ciphertext": b64e(bytes(ct))})
    value = forged.model_dump_json().encode()
    with pytest.raises(signing.VerificationError) as caught:
        world.opener(recipient).open(dict(message.headers), value)
    assert caught.value.code == "signature-invalid"


def test_ciphertext_moved_to_another_delivery_id_does_not_open(
    world: World, deliveries: dict[str, Delivery]
) -> None:
    """Even re-signed by a broker key, a ciphertext under another delivery id fails its AAD."""
    recipient, delivery = next(iter(deliveries.items()))
    message = seal(world, delivery)
    headers = {**dict(message.headers), "ce_id": b"another-delivery"}
    resigned = dict(
        signing.sign(headers.items(), message.value, world.sealer.broker_key, signing.DELIVERY)
    )
    with pytest.raises(sealing.DecryptionError) as caught:
        world.opener(recipient).open(resigned, message.value)
    assert caught.value.code == "decryption-failed"


def test_delivery_signed_by_a_non_broker_key_is_refused(
    world: World, deliveries: dict[str, Delivery], tmp_path: Path
) -> None:
    """A publisher (or anyone but the broker) cannot write a delivery a subscriber accepts."""
    keyfiles.generate(
        world.paths, KeyKind.publisher, "oslo-pd-ost", NOW, sender="police", organisation="oslo-pd"
    )
    world.reload()
    police = keyfiles.signing_key(world.paths, world.registry, KeyKind.publisher, "oslo-pd-ost")
    recipient, delivery = next(iter(deliveries.items()))
    message = seal(world, delivery)
    forged = dict(signing.sign(message.headers, message.value, police, signing.DELIVERY))
    with pytest.raises(signing.VerificationError) as caught:
        world.opener(recipient).open(forged, message.value)
    assert caught.value.code == "key-unknown"


def test_deliveries_sealed_to_a_rotated_key_still_open(
    world: World, deliveries: dict[str, Delivery]
) -> None:
    """After a recipient rotates, old deliveries open with the old key, new ones use the new."""
    recipient, delivery = next(iter(deliveries.items()))
    old = seal(world, delivery)
    new_entry, _ = keyfiles.rotate(world.paths, KeyKind.recipient, recipient, NOW)
    world.reload()
    new = seal(world, delivery)
    assert sealing.parse_sealed(new.value).recipient_key_id == new_entry.key_id
    opener = world.opener(recipient)
    for message in (old, new):
        assert opener.open(dict(message.headers), message.value)["organisation"] == recipient


def test_sealer_names_organisations_without_an_encryption_key(world: World) -> None:
    """The worker can refuse to start rather than deliver to one it cannot encrypt to."""
    assert world.sealer.missing_keys(["skole-9001", "skole-9002", "oslo-politidistrikt"]) == [
        "oslo-politidistrikt",
        "skole-9002",
    ]


def test_audit_commitment_is_over_the_sealed_bytes(
    world: World, deliveries: dict[str, Delivery]
) -> None:
    """The audit commits to the ciphertext message, so it holds no plaintext and detects swaps."""
    a, b = sorted(deliveries)[:2]
    ma, mb = seal(world, deliveries[a]), seal(world, deliveries[b])
    assert ma.commitment == sealing.commitment(ma.value) != mb.commitment
    assert ma.commitment.startswith("sha256:")
    assert len(ma.commitment) == 71


def test_sealing_keeps_no_state_between_calls(
    world: World, deliveries: dict[str, Delivery]
) -> None:
    """Deliveries of two notices sealed interleaved, in any order: each is sealed under the
    data key it was given, and opens with that key only."""
    a, b = sorted(deliveries)[:2]
    messages = [seal(world, deliveries[a], "n-1"), seal(world, deliveries[b], "n-2")]
    messages.append(seal(world, deliveries[b], "n-1"))
    for message, (recipient, notice_id, other) in zip(
        messages, [(a, "n-1", "n-2"), (b, "n-2", "n-1"), (b, "n-1", "n-2")], strict=True
    ):
        sealed = sealing.parse_sealed(message.value)
        delivery_id = deliveries[recipient].delivery_id
        own = world.store.lookup(notice_id)
        assert sealing.open_with_data_key(
            sealed, delivery_id=delivery_id, owner=recipient, data_key=own
        )
        with pytest.raises(sealing.DecryptionError):
            sealing.open_with_data_key(
                sealed,
                delivery_id=delivery_id,
                owner=recipient,
                data_key=world.store.lookup(other),
            )


# --- batch keys: one key encapsulation per organisation and batch ----------------------------


def _in_batch(
    world: World, delivery: Delivery, batch: sealing.SealBatch, delivery_id: str
) -> sealing.SealedMessage:
    copy = delivery.model_copy(update={"delivery_id": delivery_id})
    return world.sealer.seal(
        copy,
        data_key=world.store.data_key("n-1", delivery.notice_type, NOW),
        delivery_id=delivery_id,
        organisation=str(delivery.organisation),
        event_type="no.oslo.broker.delivery.v1",
        source="/broker",
        time=NOW,
        key=b"partition-key",
        batch=batch,
    )


def _batch_sealed(message: sealing.SealedMessage) -> sealing.BatchSealedDelivery:
    sealed = sealing.parse_sealed(message.value)
    assert isinstance(sealed, sealing.BatchSealedDelivery)
    return sealed


def test_one_batch_seals_one_batch_key_per_organisation(
    world: World, deliveries: dict[str, Delivery]
) -> None:
    """Three deliveries to one organisation in a batch carry one sealed batch key, which its
    subscriber opens once; another organisation's deliveries in the same batch have their own,
    and a new batch has new keys."""
    a, b = sorted(deliveries)[:2]
    batch = sealing.SealBatch()
    to_a = [_in_batch(world, deliveries[a], batch, f"d-a-{i}") for i in range(3)]
    to_b = _in_batch(world, deliveries[b], batch, "d-b-0")
    assert len({_batch_sealed(m).batch_key for m in to_a}) == 1
    assert len({_batch_sealed(m).wrapped_key for m in to_a}) == 3
    assert _batch_sealed(to_b).batch_key != _batch_sealed(to_a[0]).batch_key
    assert len(batch.keys) == 2
    opener = world.opener(a)
    for i, m in enumerate(to_a):
        assert opener.open(dict(m.headers), m.value)["delivery_id"] == f"d-a-{i}"
    assert len(opener.batch_keys) == 1  # opened once for the three
    later = _in_batch(world, deliveries[a], sealing.SealBatch(), "d-a-9")
    assert _batch_sealed(later).batch_key != _batch_sealed(to_a[0]).batch_key
    assert world.opener(b).open(dict(to_b.headers), to_b.value)["organisation"] == b


def test_a_wrapped_key_or_batch_key_moved_does_not_open(
    world: World, deliveries: dict[str, Delivery]
) -> None:
    """Within one batch to one organisation, another delivery's wrapped content key fails its
    AAD; another organisation's batch key fails HPKE's info, with the keys already opened or
    not."""
    a, b = sorted(deliveries)[:2]
    batch = sealing.SealBatch()
    first, second = (_in_batch(world, deliveries[a], batch, f"d-a-{i}") for i in range(2))
    other = _batch_sealed(_in_batch(world, deliveries[b], batch, "d-b-0"))
    keys = keyfiles.decryption_keys(world.paths, world.registry, a)
    opened: dict[tuple[str, str, str], bytes] = {}
    sealed = _batch_sealed(second)
    assert sealing.open_sealed(sealed, delivery_id="d-a-1", owner=a, keys=keys, batch_keys=opened)
    swapped = sealed.model_copy(update={"wrapped_key": _batch_sealed(first).wrapped_key})
    for known in ({}, opened):
        with pytest.raises(sealing.DecryptionError) as caught:
            sealing.open_sealed(swapped, delivery_id="d-a-1", owner=a, keys=keys, batch_keys=known)
        assert caught.value.code == "decryption-failed"
    # b's batch key under a's key id: HPKE's info names b, not a (and a's key did not seal it)
    stolen = sealed.model_copy(update={"batch_key": other.batch_key})
    with pytest.raises(sealing.DecryptionError) as caught:
        sealing.open_sealed(stolen, delivery_id="d-a-1", owner=a, keys=keys)
    assert caught.value.code == "decryption-failed"
    # a's own sealed batch key, but presented as another owner's: the info binds the owner
    disguised = [DecryptionKey(b, k.key_id, k.private) for k in keys]
    with pytest.raises(sealing.DecryptionError) as caught:
        sealing.open_sealed(sealed, delivery_id="d-a-1", owner=b, keys=disguised)
    assert caught.value.code == "decryption-failed"


def test_a_subscriber_keeps_a_bounded_number_of_batch_keys(
    world: World, deliveries: dict[str, Delivery]
) -> None:
    recipient, delivery = next(iter(deliveries.items()))
    opener = world.opener(recipient)
    for i in range(sealing.OPENED_BATCH_KEYS + 5):
        m = _in_batch(world, delivery, sealing.SealBatch(), f"d-{i}")
        opener.open(dict(m.headers), m.value)
    assert len(opener.batch_keys) == sealing.OPENED_BATCH_KEYS


def test_a_delivery_sealed_before_batch_keys_still_opens(
    world: World, deliveries: dict[str, Delivery]
) -> None:
    """``sealed: 1`` (the content key sealed by HPKE itself), as written before: still opened
    by its subscriber and, within retention, with the data key."""
    recipient, delivery = next(iter(deliveries.items()))
    entry = world.registry.active(KeyKind.recipient, recipient)
    assert entry is not None
    data_key = world.store.data_key("n-1", delivery.notice_type, NOW)
    old = sealing.seal(
        delivery.model_dump_json(exclude_none=True).encode(),
        data_key=data_key,
        delivery_id=delivery.delivery_id,
        owner=recipient,
        recipient_key_id=entry.key_id,
        recipient_public=entry.encryption_key(),
    )
    value = old.model_dump_json().encode()
    assert json.loads(value)["sealed"] == 1
    headers = [("ce_id", delivery.delivery_id.encode()), ("ce_time", NOW.isoformat().encode())]
    signed = dict(signing.sign(headers, value, world.sealer.broker_key, signing.DELIVERY))
    assert world.opener(recipient).open(signed, value)["organisation"] == recipient
    assert sealing.open_with_data_key(
        sealing.parse_sealed(value),
        delivery_id=delivery.delivery_id,
        owner=recipient,
        data_key=data_key,
    )


def test_a_notice_sealed_in_a_batch_is_refused(
    world: World, deliveries: dict[str, Delivery]
) -> None:
    """Publishers seal one notice at a time: the inbox takes no batch-sealed value."""
    recipient, delivery = next(iter(deliveries.items()))
    message = _in_batch(world, delivery, sealing.SealBatch(), "d-0")
    inbox = sealing.NoticeOpener(keyfiles.decryption_keys(world.paths, world.registry, recipient))
    with pytest.raises(sealing.DecryptionError) as caught:
        inbox.open({"ce_sealed": b"1", "ce_id": b"n-1"}, message.value)
    assert caught.value.code == "sealed-invalid"
