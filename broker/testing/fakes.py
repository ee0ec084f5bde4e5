"""Fakes for tests that implement the core's own Protocols (as structlog's ``testing`` and
httpx's ``MockTransport`` implement the real interface): a data-key store in memory, a fixed
clock, and a ready pipeline with real keys held in memory, so that unit tests take the very
branch production takes (notices signed and sealed, deliveries sealed, audit records signed).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from broker.adapters.examples import example_organisation
from broker.adapters.policy_files import load_directory
from broker.core import envelope
from broker.core.audit import writers
from broker.core.crypto import sealing, signing
from broker.core.crypto.registry import (
    ALGORITHMS,
    BROKER_OWNER,
    DecryptionKey,
    KeyKind,
    Registry,
    RegistryEntry,
    SigningKey,
    b64e,
    key_id_for,
)
from broker.core.deployment.topics import TopicNames
from broker.core.directory import Directory
from broker.core.notices import NOTICE_SENDERS, ce_type
from broker.core.pipeline import OutMessage, Pipeline, Result, Source
from broker.core.policy import PolicySet
from broker.core.retention import DataKeyEntry, key_destroyed

# The units that issue the shipped example notices (examples/, policies/tests/notices/), by
# sender class: each gets a publisher key, so that the examples verify as they are.
EXAMPLE_UNITS = {
    "oslo-pd-ost": "police",
    "oslo-pd-syd": "police",
    "osloskolen-9003": "school",
    "bydel-grorud-barnevern": "child-welfare",
}
SUBJECT_KEY = b"fake-subject-key-0123456789abcdef"
Raw = list[tuple[str, bytes | None]]
SOURCE = Source("t.notices", 0, 0)  # where process() says an input was read by default


@dataclass
class MemoryDataKeyStore:
    """The DataKeyStore of broker.core.retention in memory: what SqliteDataKeyStore does,
    without the file."""

    _keys: dict[str, tuple[DataKeyEntry, bytes | None]] = field(default_factory=dict, repr=False)

    def data_key(self, notice_id: str, notice_type: str, now: datetime) -> bytes:
        found = self._keys.get(notice_id)
        if found is None:
            key = secrets.token_bytes(32)
            self._keys[notice_id] = (DataKeyEntry(notice_id, notice_type, now), key)
            return key
        if found[1] is None:
            raise key_destroyed()
        return found[1]

    def lookup(self, notice_id: str) -> bytes | None:
        found = self._keys.get(notice_id)
        return found[1] if found else None

    def entries(self) -> list[DataKeyEntry]:
        return [entry for entry, _ in self._keys.values()]

    def destroy(self, notice_ids: Iterable[str], now: datetime) -> int:
        n = 0
        for nid in notice_ids:
            found = self._keys.get(nid)
            if found and found[1] is not None:
                entry = DataKeyEntry(nid, found[0].notice_type, found[0].created_at, now)
                self._keys[nid] = (entry, None)
                n += 1
        return n


@dataclass
class FixedClock:
    """A clock that reads ``now`` until a test moves it."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


PrivateKey = Ed25519PrivateKey | X25519PrivateKey


@dataclass(frozen=True)
class MemoryKeys:
    """Real key pairs held in memory, and the registry of their public halves: what the key
    files and the registry file hold in production (broker.adapters.stores.keyfiles)."""

    registry: Registry
    private: Mapping[tuple[KeyKind, str], PrivateKey] = field(repr=False)

    @classmethod
    def generate(
        cls, now: datetime, *, organisations: Iterable[str], units: Mapping[str, str]
    ) -> MemoryKeys:
        """The broker's keys (signing, inbox, audit writer), an encryption key per receiving
        organisation, and a publisher key per unit (unit id -> sender class)."""
        wanted: list[tuple[KeyKind, str, str | None]] = [
            (KeyKind.broker, BROKER_OWNER, None),
            (KeyKind.recipient, sealing.BROKER_INBOX, None),
            (KeyKind.audit_writer, writers.WORKER, None),
            *((KeyKind.recipient, o, None) for o in sorted(set(organisations))),
            *((KeyKind.publisher, unit, sender) for unit, sender in units.items()),
        ]
        entries, private = [], {}
        for kind, owner, sender in wanted:
            key: PrivateKey = (
                Ed25519PrivateKey.generate()
                if ALGORITHMS[kind] == "ed25519"
                else X25519PrivateKey.generate()
            )
            raw = key.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
            entries.append(
                RegistryEntry(
                    key_id=key_id_for(ALGORITHMS[kind], raw),
                    owner=owner,
                    kind=kind,
                    algorithm=ALGORITHMS[kind],
                    public_key=b64e(raw),
                    created=now,
                    sender=sender,
                    organisation=example_organisation(owner) if sender else None,
                )
            )
            private[(kind, owner)] = key
        return cls(Registry(keys=tuple(entries)), private)

    def _entry(self, kind: KeyKind, owner: str) -> RegistryEntry:
        entry = self.registry.active(kind, owner)
        assert entry is not None, f"no {kind} key for {owner}"
        return entry

    def signing_key(self, kind: KeyKind, owner: str) -> SigningKey:
        key = self.private[(kind, owner)]
        assert isinstance(key, Ed25519PrivateKey)
        return SigningKey(owner, self._entry(kind, owner).key_id, key)

    def decryption_keys(self, owner: str) -> list[DecryptionKey]:
        key = self.private[(KeyKind.recipient, owner)]
        assert isinstance(key, X25519PrivateKey)
        return [DecryptionKey(owner, self._entry(KeyKind.recipient, owner).key_id, key)]

    def units(self) -> list[RegistryEntry]:
        return [e for e in self.registry.keys if e.kind is KeyKind.publisher]


@dataclass
class ReadyPipeline:
    """A Pipeline wired as the worker wires it (broker.services.worker.build_pipeline), with
    its keys in memory, and both ends around it: a publishing unit's (sign, seal to the
    broker) and each recipient's (check the broker's signature, decrypt)."""

    pipeline: Pipeline
    keys: MemoryKeys
    clock: FixedClock
    data_keys: MemoryDataKeyStore
    guard: signing.MemoryReplayGuard

    def headers(self, doc: Mapping[str, Any]) -> Raw:
        """The CloudEvent headers ``doc``'s unit sends it with, at the clock's time: its type,
        and as source its issuer if that unit has a key here, else a unit of its class."""
        notice_type = str(doc.get("notice_type"))
        sender = NOTICE_SENDERS.get(notice_type, "police")
        issuer = doc.get("issuer")
        unit = issuer.get("unit_id") if isinstance(issuer, dict) else None
        if self.keys.registry.active(KeyKind.publisher, str(unit)) is None:
            units = self.keys.units()
            unit = next((e.owner for e in units if e.sender == sender), units[0].owner)
        return list(
            envelope.binary_headers(
                ce_type(notice_type, 1),
                f"/{sender}/{unit}",
                str(doc.get("notice_id")),
                self.clock(),
            )
        )

    def publish(self, value: bytes, headers: Raw) -> tuple[Raw, bytes]:
        """``value`` as a unit publishes it: signed by the unit its ``ce_source`` names (or, if
        that one has no key here, by another, which the broker then refuses), then sealed to
        the broker's inbox key."""
        clean = tuple((k, v) for k, v in headers if v is not None)
        unit = dict(clean).get("ce_source", b"").decode("utf-8", "replace").rpartition("/")[2]
        if self.keys.registry.active(KeyKind.publisher, unit) is None:
            unit = self.keys.units()[0].owner
        signed = signing.sign(clean, value, self.keys.signing_key(KeyKind.publisher, unit))
        sealed_headers, sealed = sealing.seal_notice(signed, value, self.keys.registry)
        return list(sealed_headers), sealed

    def process(
        self,
        doc: Mapping[str, Any] | bytes,
        headers: Raw | None = None,
        source: Source = SOURCE,
    ) -> Result:
        """``doc`` (a notice, or any bytes) published by its unit, then decided."""
        value = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        if headers is None:
            headers = self.headers(doc if isinstance(doc, Mapping) else {})
        sealed_headers, sealed = self.publish(value, headers)
        return self.pipeline.process(sealed, sealed_headers, source)

    def organisation_of(self, delivery: OutMessage) -> str:
        """The organisation whose topic a delivery is on (the directory's)."""
        topics = self.pipeline.topics
        return next(
            o
            for o, topic in self.pipeline.directory.topics.items()
            if topics.delivery(topic) == delivery.topic
        )

    def recipient_of(self, delivery: OutMessage) -> str:
        """The recipient role of the organisation whose topic a delivery is on."""
        return self.pipeline.directory.organisations[self.organisation_of(delivery)].kind

    def open(self, delivery: OutMessage) -> dict[str, Any]:
        """A delivery as its organisation reads it (broker.core.crypto.sealing.DeliveryOpener)."""
        organisation = self.organisation_of(delivery)
        opener = sealing.DeliveryOpener(
            self.keys.registry, organisation, self.keys.decryption_keys(organisation)
        )
        return opener.open(dict(delivery.headers), delivery.value)


def ready_pipeline(
    policy: PolicySet,
    *,
    now: datetime | None = None,
    topics: TopicNames | None = None,
    subject_key: bytes = SUBJECT_KEY,
    units: Mapping[str, str] = EXAMPLE_UNITS,
    audit_key: SigningKey | None = None,
    directory: Directory | None = None,
) -> ReadyPipeline:
    """A pipeline as production builds it, with fresh keys in memory for the broker, every
    organisation of the directory and each unit, a fixed clock at ``now`` (default: the real time,
    read once), a data-key store and a replay guard in memory. ``audit_key`` replaces the
    worker's audit-writer key (a stack's own, to write to its audit topic). ``directory``: the
    organisations (default: the one beside the policy, policies/directory.yaml)."""
    clock = FixedClock(now or datetime.now(UTC))
    directory = directory or load_directory(policy)
    keys = MemoryKeys.generate(clock.now, organisations=directory.organisations, units=units)
    data_keys = MemoryDataKeyStore()
    guard = signing.MemoryReplayGuard()
    pipeline = Pipeline(
        policy,
        topics or TopicNames("t."),
        subject_key,
        directory=directory,
        clock=clock,
        verifier=signing.NoticeVerifier(keys.registry, guard),
        inbox=sealing.NoticeOpener(keys.decryption_keys(sealing.BROKER_INBOX)),
        sealer=sealing.DeliverySealer(
            keys.registry, keys.signing_key(KeyKind.broker, BROKER_OWNER)
        ),
        data_keys=data_keys,
        audit_key=audit_key or keys.signing_key(KeyKind.audit_writer, writers.WORKER),
    )
    return ReadyPipeline(pipeline, keys, clock, data_keys, guard)
