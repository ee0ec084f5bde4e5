"""A hostile producer for the integration suite (issue #9): records that aiokafka cannot send,
sent by clients that do not share the worker's code.

Valid notices are built with the project's own code (signed by their police unit, sealed to
the broker's inbox); the hostile ones are valid notices mutated on the way out, re-signed
where the mutation would otherwise stop at the signature check, so that each reaches the check
it is aimed at. Two independent clients send them, both over mutual TLS as the police
publishing principal:

* confluent-kafka (librdkafka) for bursts: null header values, repeated headers, thousands of
  headers, records near Kafka's 1 MB limit;
* Debian's ``kcat`` for what confluent-kafka cannot send: a header key that is not UTF-8
  (confluent-kafka turns a ``bytes`` key into its ``repr``, ``"b'\\xff\\xfe'"``, silently).

What the worker made of them is read back just as independently: the audit topic with a
read-committed confluent-kafka consumer (`AuditReader`), and every topic under the stack's
prefix as raw bytes with kcat (`scan_topics`).

    factory = Factory(settings)
    items = [factory.build(kind) for kind in ["valid", "unsealed", "bad-header-key"]]
    sent = HostileClient(settings).send(items)       # partition + offset of every record
    with AuditReader(settings) as reader:
        report = wait_for_outcomes(sent, reader, recipients, worker_exit_code(proc))
    report.leaks = scan_topics(settings, sent, since=ends_before_sending)
    print(report.table())
"""

from __future__ import annotations

import concurrent.futures
import copy
import dataclasses
import json
import os
import random
import re
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import confluent_kafka
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from broker.adapters.kafka.tls.credentials import Credentials
from broker.adapters.policy_files import load_policy
from broker.adapters.publisher import sealed_for_broker
from broker.adapters.settings import Settings
from broker.adapters.stores import keyfiles
from broker.core import envelope, national_id
from broker.core.crypto import refs, signing
from broker.core.crypto.registry import KeyKind
from broker.core.deployment.acl import Principals
from broker.core.notices import NOTICE_MODELS, ce_type
from broker.core.pipeline import AUDIT_TYPE, OutMessage, Source
from broker.testing.fakes import ready_pipeline
from broker.testing.processes import encode, synthetic_notices

VALID = "valid"
# Each hostile class, and the dead-letter codes that are a correct outcome for it.
EXPECTED: dict[str, frozenset[str]] = {
    "bad-header-key": frozenset({"record-unreadable"}),
    "null-header": frozenset({"headers-invalid"}),
    "duplicate-header": frozenset({"headers-invalid"}),
    "many-headers": frozenset({"headers-invalid"}),
    "deep-nesting": frozenset({"json-too-deep"}),
    "duplicate-json-key": frozenset({"json-duplicate-key"}),
    "near-limit": frozenset({"too-large"}),
    "lying-ce_type": frozenset({"invalid-notice", "unknown-type"}),
    "wrong-sender": frozenset({"sender-not-authorised"}),
    "unsealed": frozenset({"notice-not-sealed"}),
}
HOSTILE = tuple(EXPECTED)
KINDS = (VALID, *HOSTILE)
# Classes with more than one way of being hostile; the factory takes them in turn.
VARIANTS: dict[str, tuple[str, ...]] = {
    "null-header": ("ce_type-unsealed", "ce_id-sealed"),
    "duplicate-json-key": ("notice_id", "child.national_id"),
}


def selected_classes(env: dict[str, str] | None = None) -> tuple[str, ...]:
    """The hostile classes a run sends: all of them, or those named in HOSTILE_CLASSES
    (comma-separated), to work on one class at a time."""
    wanted = (os.environ if env is None else env).get("HOSTILE_CLASSES", "").strip()
    if not wanted:
        return HOSTILE
    names = tuple(n.strip() for n in wanted.split(",") if n.strip())
    unknown = sorted(set(names) - set(HOSTILE))
    if unknown:
        raise ValueError(f"HOSTILE_CLASSES: unknown {unknown}; known: {', '.join(HOSTILE)}")
    return names


BAD_HEADER_KEY = b"\xff\xfe"  # not UTF-8: aiokafka's record parser cannot decode it
MANY_HEADERS = 5_000
NESTING_DEPTH = 100_000
NEAR_LIMIT_VALUE = 1_040_000  # Kafka's default max.message.bytes is 1,048,588 per batch
MAX_RECORD = 1_048_576  # confluent-kafka's message.max.bytes for the hostile producer
POLICE_UNIT = "oslo-pd-ost"  # a registered police unit (examples/02-…)
SCHOOL_UNIT = "osloskolen-9003"  # a registered school unit (examples/other-senders/01-…)
GIVEN_NAMES = ("Emil", "Nora", "Jonas", "Sara", "Aisha", "Ole", "Ingrid", "Mats", "Leah")
KCAT_DELIVERED = re.compile(rb"Message delivered to partition (\d+) \(offset (-?\d+)\)")
RECORD_MARK = b"\n@@hostile-scan@@ "


def police_principal() -> str:
    """The Kafka principal that police systems publish as (the one place that names it)."""
    return Principals.publisher("police")


def admin_principal() -> str:
    return Principals().admin


# --- what is sent ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Item:
    """One input record, as the hostile producer will send it."""

    kind: str  # VALID or one of HOSTILE
    variant: str
    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str | bytes, bytes | None], ...]
    secrets: tuple[tuple[str, str], ...]  # (field, text) that no output may contain
    sealed: bool  # False: the record holds the notice in clear on the notices topic
    predicted: dict[str, str] | None = None  # valid: recipient -> outcome, from the policy

    @property
    def via(self) -> str:
        """kcat for what confluent-kafka cannot send, confluent-kafka for everything else."""
        return "kcat" if any(isinstance(k, bytes) for k, _ in self.headers) else "confluent"

    @property
    def expected(self) -> frozenset[str]:
        return EXPECTED.get(self.kind, frozenset())


@dataclasses.dataclass(frozen=True)
class Sent:
    item: Item
    partition: int
    offset: int

    @property
    def source(self) -> str:
        """As the audit record names its input: topic/partition/offset."""
        return f"{self.item.topic}/{self.partition}/{self.offset}"


class Factory:
    """Builds valid and hostile input records for ``settings``' stack. Every notice gets a
    child of its own (a unique invented name and synthetic national id), so a scan for one
    notice's child cannot be satisfied, or spoiled, by another's."""

    def __init__(self, settings: Settings, seed: int = 9) -> None:
        self.settings = settings
        self.rng = random.Random(seed)  # noqa: S311 - invented test data, not secrets
        self.paths = settings.key_paths()
        self.registry = keyfiles.load_registry(self.paths.registry)
        self.policy = load_policy(settings.policy_dir)
        # the pure pipeline with keys of its own for the stack's units (no Kafka, no files)
        units = {e.owner: str(e.sender) for e in self.registry.keys if e.sender is not None}
        self.ready = ready_pipeline(
            self.policy, topics=settings.topics, subject_key=settings.subject_key(), units=units
        )
        self._turn: Counter[str] = Counter()
        self._used_ids: set[str] = set()
        self._templates = list(synthetic_notices(3, seed=seed))

    # -- documents --

    def doc(self, template: int | None = None) -> dict[str, Any]:
        """A valid notice from one of the examples (``template``, or one at random) about a
        new invented child, with a fresh notice id."""
        i = self.rng.randrange(len(self._templates)) if template is None else template
        d = copy.deepcopy(self._templates[i % len(self._templates)])
        d["notice_id"] = str(uuid.uuid4())
        d["child"]["name"] = self._name()
        born, nin = self._child_id()
        d["child"]["birth_date"] = born.isoformat()
        d["child"]["national_id"] = nin
        return d

    def _name(self) -> str:
        family = "".join(chr(ord("a") + int(c, 16)) for c in uuid.uuid4().hex[:9])
        return f"{self.rng.choice(GIVEN_NAMES)} {family.capitalize()}sen"

    def _child_id(self) -> tuple[date, str]:
        while True:
            born = date(2010, 1, 1) + timedelta(days=self.rng.randrange(0, 5 * 365))
            nin = national_id.synthetic(born, self.rng.randrange(500, 900))
            if nin not in self._used_ids:
                self._used_ids.add(nin)
                return born, nin

    @staticmethod
    def secrets_of(d: dict[str, Any]) -> tuple[tuple[str, str], ...]:
        name = d["child"]["name"]
        return (
            ("child.name", name),
            ("child.family_name", name.split(" ", 1)[1]),
            ("child.national_id", d["child"]["national_id"]),
        )

    def predicted(self, d: dict[str, Any]) -> dict[str, str]:
        """What the policy decides for a valid notice, from the pure pipeline (no Kafka)."""
        model = NOTICE_MODELS[(d["notice_type"], 1)].model_validate(d)
        self.ready.clock.now = datetime.now(UTC)
        _, value, headers = envelope.encode_notice(model, None, self.ready.clock())
        result = self.ready.process(value, list(headers), Source("predicted", 0, 0))
        assert result.error is None, result.error
        return {x.recipient: x.outcome.value for x in result.decisions}

    # -- signing and sealing --

    def signed(self, d: dict[str, Any]) -> OutMessage:
        """The notice as its unit publishes it, signed but not yet sealed."""
        model = NOTICE_MODELS[(d["notice_type"], 1)].model_validate(d)
        key = refs.partition_key(
            self.settings.subject_key(), "notices", d["child"]["national_id"]
        )  # as broker.adapters.publisher keys it
        _, value, headers = envelope.encode_notice(model, key, datetime.now(UTC))
        return self.sign(
            OutMessage(self.settings.topics.notices, key, value, headers), d["issuer"]["unit_id"]
        )

    def sign(self, message: OutMessage, unit: str) -> OutMessage:
        signer = keyfiles.signing_key(self.paths, self.registry, KeyKind.publisher, unit)
        headers = signing.sign(message.headers, message.value, signer)
        return dataclasses.replace(message, headers=headers)

    def seal(self, message: OutMessage) -> OutMessage:
        return sealed_for_broker(message, self.settings, self.registry)

    def raw(
        self, value: bytes, notice_type: str, notice_id: str, unit: str = POLICE_UNIT
    ) -> OutMessage:
        """Arbitrary bytes, signed by a registered police unit as a notice of ``notice_type``
        ("risk", "incident")."""
        headers = envelope.binary_headers(
            ce_type(notice_type, 1), f"/police/{unit}", notice_id, datetime.now(UTC)
        )
        return self.sign(OutMessage(self.settings.topics.notices, None, value, headers), unit)

    # -- items --

    def build(self, kind: str, variant: str | None = None) -> Item:
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; one of {KINDS}")
        if variant is None:
            choices = VARIANTS.get(kind, ("",))
            variant = choices[self._turn[kind] % len(choices)]
            self._turn[kind] += 1
        build = getattr(self, "_" + kind.replace("-", "_").lower())
        item: Item = build(variant)
        return item

    def every_variant(self, kinds: Sequence[str] = HOSTILE) -> list[Item]:
        """One record of every variant of every hostile class in ``kinds``."""
        return [self.build(k, v) for k in kinds for v in VARIANTS.get(k, ("",))]

    def _item(
        self,
        kind: str,
        variant: str,
        m: OutMessage,
        d: dict[str, Any] | None,
        *,
        headers: Iterable[tuple[str | bytes, bytes | None]] | None = None,
        sealed: bool = True,
        extra: Iterable[tuple[str, str]] = (),
    ) -> Item:
        return Item(
            kind,
            variant,
            m.topic,
            m.key,
            m.value,
            tuple(m.headers if headers is None else headers),
            (*(self.secrets_of(d) if d else ()), *extra),
            sealed,
        )

    def _valid(self, variant: str) -> Item:
        d = self.doc()
        item = self._item(VALID, variant, encode(d, self.settings), d)
        return dataclasses.replace(item, predicted=self.predicted(d))

    def _bad_header_key(self, variant: str) -> Item:
        d = self.doc()
        m = encode(d, self.settings)
        return self._item(
            "bad-header-key", variant, m, d, headers=[*m.headers, (BAD_HEADER_KEY, b"1")]
        )

    def _null_header(self, variant: str) -> Item:
        d = self.doc()
        if variant == "ce_type-unsealed":  # in clear on the notices topic by construction
            m = self.signed(d)
            headers = [(k, None if k == "ce_type" else v) for k, v in m.headers]
            return self._item("null-header", variant, m, d, headers=headers, sealed=False)
        m = encode(d, self.settings)
        headers = [(k, None if k == "ce_id" else v) for k, v in m.headers]
        return self._item("null-header", variant, m, d, headers=headers)

    def _duplicate_header(self, variant: str) -> Item:
        d = self.doc()
        m = encode(d, self.settings)
        other = ce_type("risk" if d["notice_type"] == "incident" else "incident", 1).encode()
        headers: list[tuple[str | bytes, bytes | None]] = []
        for k, v in m.headers:
            headers.append((k, v))
            if k == "ce_type":
                headers.append((k, other))
        return self._item("duplicate-header", variant, m, d, headers=headers)

    def _many_headers(self, variant: str) -> Item:
        d = self.doc()
        m = encode(d, self.settings)
        padding = [(f"x-pad-{i}", b"1") for i in range(MANY_HEADERS)]
        return self._item("many-headers", variant, m, d, headers=[*m.headers, *padding])

    def _deep_nesting(self, variant: str) -> Item:
        notice_id = str(uuid.uuid4())
        depth = NESTING_DEPTH - 1  # the object itself is the first level
        value = (
            f'{{"notice_id":"{notice_id}","notice_type":"risk","deep":'.encode()
            + b"[" * depth
            + b"]" * depth
            + b"}"
        )
        m = self.seal(self.raw(value, "risk", notice_id))
        return self._item("deep-nesting", variant, m, None)

    def _duplicate_json_key(self, variant: str) -> Item:
        d = self.doc()
        plain = self.signed(d)
        extra: list[tuple[str, str]] = []
        if variant == "notice_id":  # a decoy id first; json.loads keeps the last
            decoy = f'{{"notice_id":"{uuid.uuid4()}",'.encode()
            value = decoy + plain.value[1:]
        else:  # a second child.national_id: which one did the policy read?
            _, decoy_nin = self._child_id()
            extra.append(("child.national_id (decoy)", decoy_nin))
            marker = b'"child":{'
            assert marker in plain.value
            value = plain.value.replace(marker, marker + f'"national_id":"{decoy_nin}",'.encode())
        m = self.seal(self.sign(dataclasses.replace(plain, value=value), d["issuer"]["unit_id"]))
        return self._item("duplicate-json-key", variant, m, d, extra=extra)

    def _near_limit(self, variant: str) -> Item:
        """A signed notice padded until its sealed value is ~NEAR_LIMIT_VALUE bytes."""
        d = self.doc()
        pad = 3 * NEAR_LIMIT_VALUE // 4
        for _ in range(4):
            big = copy.deepcopy(d)
            big["necessity"] = "x" * pad
            value = json.dumps(big, ensure_ascii=False).encode()
            m = self.seal(self.raw(value, d["notice_type"], d["notice_id"], d["issuer"]["unit_id"]))
            if abs(len(m.value) - NEAR_LIMIT_VALUE) < 1_000:
                break
            pad += (NEAR_LIMIT_VALUE - len(m.value)) * 3 // 4
        assert abs(len(m.value) - NEAR_LIMIT_VALUE) < 1_000, len(m.value)
        return self._item("near-limit", variant, m, d)

    def _lying_ce_type(self, variant: str) -> Item:
        d = self.doc()
        plain = self.signed(d)
        other = ce_type("risk" if d["notice_type"] == "incident" else "incident", 1).encode()
        headers = tuple((k, other if k == "ce_type" else v) for k, v in plain.headers)
        lying = self.sign(dataclasses.replace(plain, headers=headers), d["issuer"]["unit_id"])
        return self._item("lying-ce_type", variant, self.seal(lying), d)

    def _wrong_sender(self, variant: str) -> Item:
        d = self.doc(template=self._police_template("incident"))
        d["issuer"] = {"unit_id": SCHOOL_UNIT, "unit_name": "Søndre Bekkedalen skole"}
        return self._item("wrong-sender", variant, encode(d, self.settings), d)

    def _unsealed(self, variant: str) -> Item:
        d = self.doc()
        return self._item("unsealed", variant, self.signed(d), d, sealed=False)

    def _police_template(self, notice_type: str) -> int:
        return next(i for i, t in enumerate(self._templates) if t["notice_type"] == notice_type)


# --- sending --------------------------------------------------------------------------------


class RefusedError(AssertionError):
    """Kafka (or the client) refused to take a record."""


class HostileClient:
    """confluent-kafka and kcat, over mutual TLS as ``principal`` (police by default)."""

    def __init__(self, settings: Settings, principal: str | None = None) -> None:
        self.settings = settings
        self.creds = Credentials(settings.kafka.credentials_dir, principal or police_principal())

    def confluent_config(self) -> dict[str, Any]:
        return {
            "bootstrap.servers": self.settings.bootstrap,
            "security.protocol": "SSL",
            "ssl.ca.location": str(self.creds.ca),
            "ssl.certificate.location": str(self.creds.cert),
            "ssl.key.location": str(self.creds.key),
            # the broker's certificate names 127.0.0.1 as an IP SAN: librdkafka checks it
            "ssl.endpoint.identification.algorithm": "https",
        }

    def kcat_args(self) -> list[bytes]:
        return [
            b"kcat",
            b"-F",
            b"/dev/null",
            b"-b",
            self.settings.bootstrap.encode(),
            b"-X",
            b"security.protocol=ssl",
            b"-X",
            b"ssl.ca.location=" + str(self.creds.ca).encode(),
            b"-X",
            b"ssl.certificate.location=" + str(self.creds.cert).encode(),
            b"-X",
            b"ssl.key.location=" + str(self.creds.key).encode(),
        ]

    def send(self, items: Sequence[Item]) -> list[Sent]:
        """Send ``items`` in order (a kcat record waits for the confluent records before it),
        and return where each landed. Raises RefusedError if any was refused."""
        producer = Producer(
            {
                **self.confluent_config(),
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 5,
                "message.max.bytes": MAX_RECORD,
            }
        )
        placed: dict[int, tuple[int, int]] = {}
        refused: dict[int, str] = {}

        def report(i: int) -> Callable[[Any, Any], None]:
            def on_delivery(err: Any, msg: Any) -> None:
                if err is not None:
                    refused[i] = str(err)
                else:
                    placed[i] = (msg.partition(), msg.offset())

            return on_delivery

        for i, item in enumerate(items):
            if item.via == "kcat":
                producer.flush(60)
                try:
                    placed[i] = self.kcat_send(item)
                except RefusedError as exc:
                    refused[i] = str(exc)
                continue
            while True:
                try:
                    producer.produce(
                        item.topic,
                        item.value,
                        key=item.key,
                        headers=list(item.headers),  # type: ignore[arg-type]  # null values on purpose
                        on_delivery=report(i),
                    )
                    break
                except BufferError:  # the local queue is full: let it drain
                    producer.poll(0.5)
            producer.poll(0)
        left = producer.flush(60)
        if left or refused or len(placed) != len(items):
            detail = {items[i].kind: why for i, why in refused.items()}
            raise RefusedError(f"not all records were taken: {left} unsent, refused {detail}")
        return [Sent(item, *placed[i]) for i, item in enumerate(items)]

    def kcat_send(self, item: Item) -> tuple[int, int]:
        """One record through kcat; (partition, offset) from its delivery report."""
        argv = [*self.kcat_args(), b"-P", b"-vv", b"-t", item.topic.encode()]
        for k, v in item.headers:
            name = k if isinstance(k, bytes) else k.encode()
            assert v is not None, "kcat sends no null header value"
            assert b"=" not in name
            assert b"\0" not in name + v
            argv += [b"-H", name + b"=" + v]
        with tempfile.NamedTemporaryFile(prefix="hostile-", suffix=".value") as fh:
            fh.write(item.value)
            fh.flush()
            done = subprocess.run(
                [*argv, fh.name.encode()], capture_output=True, timeout=60, check=False
            )
        found = KCAT_DELIVERED.search(done.stderr)
        if done.returncode != 0 or found is None:
            raise RefusedError(f"kcat exit {done.returncode}: {done.stderr[-500:]!r}")
        return int(found.group(1)), int(found.group(2))


# --- reading back ---------------------------------------------------------------------------


class AuditReader:
    """The audit topic, read committed, with confluent-kafka as the admin principal: an
    independent count of what the worker committed. Keeps its place between calls."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.consumer = Consumer(
            {
                **HostileClient(settings, admin_principal()).confluent_config(),
                "group.id": f"hostile-{uuid.uuid4().hex[:8]}",  # never commits
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "enable.partition.eof": True,
                "auto.offset.reset": "earliest",
            }
        )
        topic = settings.topics.audit
        meta = self.consumer.list_topics(topic, timeout=30).topics[topic]
        self.partitions = sorted(meta.partitions)
        self.consumer.assign([TopicPartition(topic, p, 0) for p in self.partitions])
        self.records: list[dict[str, Any]] = []
        self.at_end: set[int] = set()  # partitions read to their end (EOF), until a new record

    def __enter__(self) -> AuditReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.consumer.close()

    def drain(self, timeout: float = 15) -> list[dict[str, Any]]:
        """Read what is committed now (up to the last stable offset of every partition);
        return all audit records read so far."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self.consumer.poll(0.5)
            if msg is None:
                if self.at_end >= set(self.partitions):  # at the end, and nothing new
                    break
                continue
            err, partition = msg.error(), msg.partition()
            assert partition is not None  # a consumed message always has one
            if err:
                if err.code() == KafkaError._PARTITION_EOF:
                    self.at_end.add(partition)
                    continue
                raise RuntimeError(f"audit read failed: {err}")
            self.at_end.discard(partition)
            headers = dict(msg.headers() or [])
            if headers.get("ce_type") == AUDIT_TYPE.encode():
                self.records.append(json.loads(msg.value() or b""))
        return self.records


@dataclasses.dataclass
class Outcome:
    sent: Sent
    dead: list[str]  # the first reason of each dead-letter record for this source
    decisions: list[tuple[str, str]]  # (recipient, outcome)

    def codes(self) -> list[str]:
        return [r.split(":", 1)[0] for r in self.dead]

    def status(self, recipients: Sequence[str]) -> str:
        """ok | lost | dead-lettered:<code> | decided | inconsistent."""
        item = self.sent.item
        if not self.dead and not self.decisions:
            return "lost"
        if len(self.dead) == 1 and not self.decisions:
            return "ok" if self.codes()[0] in item.expected else f"dead-lettered:{self.codes()[0]}"
        by = Counter(r for r, _ in self.decisions)
        if not self.dead and set(by) == set(recipients) and set(by.values()) == {1}:
            if item.kind != VALID:
                return "decided"
            return "ok" if dict(self.decisions) == item.predicted else "decided:unexpected"
        return "inconsistent"

    def complete(self, recipients: Sequence[str]) -> bool:
        return bool(self.dead) or len(self.decisions) >= len(recipients)


@dataclasses.dataclass
class Report:
    outcomes: list[Outcome]
    recipients: list[str]
    worker_exit: int | None
    seconds: float
    leaks: list[str] = dataclasses.field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """published = delivered + denied + dead-lettered (+ lost + inconsistent)."""
        c = Counter[str]()
        for o in self.outcomes:
            s = o.status(self.recipients)
            if s in ("lost", "inconsistent"):
                c[s] += 1
            elif o.dead:
                c["dead-lettered"] += 1
            elif any(out == "deliver" for _, out in o.decisions):
                c["delivered"] += 1
            else:
                c["denied"] += 1
        c["published"] = len(self.outcomes)
        return dict(c)

    def table(self) -> str:
        head = (
            f"{'class':<20}{'sent':>6}{'expected':>10}{'decided':>9}{'other code':>12}"
            f"{'lost':>6}{'broken':>8}  outcomes seen"
        )
        legend = (
            "expected: dead-lettered with the class's code (valid: one decision per recipient,"
            " as the policy says)"
        )
        lines = [legend, head, "-" * len(head)]
        for kind in KINDS:
            rows = [o for o in self.outcomes if o.sent.item.kind == kind]
            if not rows:
                continue
            st = Counter(o.status(self.recipients) for o in rows)
            other = sum(n for s, n in st.items() if s.startswith("dead-lettered:"))
            decided = sum(n for s, n in st.items() if s.startswith("decided"))
            seen = ", ".join(f"{s} x{n}" for s, n in sorted(st.items()) if s != "ok")
            lines.append(
                f"{kind:<20}{len(rows):>6}{st['ok']:>10}{decided:>9}{other:>12}"
                f"{st['lost']:>6}{st['inconsistent']:>8}  {seen}"
            )
        c = self.counts()
        lines.append("-" * len(head))
        lines.append(
            "published {published} = delivered {d} + denied {n} + dead-lettered {x}"
            " (+ lost {lost}, inconsistent {bad})".format(
                published=c["published"],
                d=c.get("delivered", 0),
                n=c.get("denied", 0),
                x=c.get("dead-lettered", 0),
                lost=c.get("lost", 0),
                bad=c.get("inconsistent", 0),
            )
        )
        alive = "alive" if self.worker_exit is None else f"EXITED with code {self.worker_exit}"
        lines.append(
            f"worker {alive}; {self.seconds:.1f} s; {len(self.leaks)} leaked child names/ids"
        )
        lines += [f"  leak: {leak}" for leak in self.leaks[:20]]
        return "\n".join(lines)


def outcomes(sent: Sequence[Sent], audit: Iterable[dict[str, Any]]) -> list[Outcome]:
    by_source = {s.source: Outcome(s, [], []) for s in sent}
    for r in audit:
        o = by_source.get(str(r.get("source")))
        if o is None:
            continue
        if r.get("event") == "dead-letter":
            o.dead.append((r.get("reasons") or ["(no reason)"])[0])
        elif r.get("event") == "decision":
            o.decisions.append((str(r.get("recipient")), str(r.get("outcome"))))
    return list(by_source.values())


def wait_for_outcomes(
    sent: Sequence[Sent],
    reader: AuditReader,
    recipients: Sequence[str],
    worker_exit: Callable[[], int | None],
    deadline: float = 90,
    stall: float = 30,
) -> Report:
    """Read the audit topic until every input in ``sent`` has its outcome, or the worker has
    exited (then one last read, a few seconds later), or ``deadline`` seconds have passed, or
    no input got its outcome for ``stall`` seconds (a worker stuck on a poison record)."""
    started = last_progress = time.monotonic()
    best = -1
    while True:
        exited = worker_exit()
        if exited is not None:
            time.sleep(3)
        found = outcomes(sent, reader.drain())
        complete = sum(o.complete(recipients) for o in found)
        now = time.monotonic()
        if complete > best:
            best, last_progress = complete, now
        over = now - started > deadline or now - last_progress > stall
        if complete == len(found) or exited is not None or over:
            return Report(found, list(recipients), worker_exit(), now - started)
        time.sleep(1)


def versions() -> str:
    """The independent clients' versions, for the record."""
    kcat = subprocess.run(["kcat", "-V"], capture_output=True, text=True, check=False).stdout
    found = re.search(r"Version (\S+) .*librdkafka (\S+)", kcat)
    kcat_v = f"kcat {found.group(1)} (librdkafka {found.group(2)})" if found else "kcat ?"
    return (
        f"confluent-kafka {confluent_kafka.__version__} "
        f"(librdkafka {confluent_kafka.libversion()[0]}), {kcat_v}"
    )


# --- the raw scan ---------------------------------------------------------------------------


Ends = dict[tuple[str, int], int]  # (topic, partition) -> end offset


def end_offsets(settings: Settings) -> Ends:
    """The end offset of every partition of every topic under ``settings``' prefix."""
    client = HostileClient(settings, admin_principal())
    config = {**client.confluent_config(), "group.id": "hostile-ends"}
    consumer = Consumer({**config, "isolation.level": "read_uncommitted"})  # the high watermark
    try:
        topics = consumer.list_topics(timeout=30).topics
        ends: Ends = {}
        for name, meta in topics.items():
            if not name.startswith(settings.topic_prefix):
                continue
            for p in meta.partitions:
                _, high = consumer.get_watermark_offsets(TopicPartition(name, p), timeout=30)
                ends[(name, p)] = high
        return ends
    finally:
        consumer.close()


def read_raw(settings: Settings, topic: str, partition: int, start: int) -> list[tuple[str, bytes]]:
    """The records of one partition from ``start`` on (read uncommitted: aborted
    transactions too), each as (topic/partition/offset, key, header keys and values, value:
    raw bytes, as kcat prints them)."""
    client = HostileClient(settings, admin_principal())
    fmt = RECORD_MARK + b"%t/%p/%o\n%k\n%h\n%s"
    argv = [*client.kcat_args(), b"-X", b"isolation.level=read_uncommitted"]
    argv += [b"-C", b"-q", b"-e", b"-t", topic.encode()]
    argv += [b"-p", str(partition).encode(), b"-o", str(start).encode(), b"-f", fmt]
    done = subprocess.run(argv, capture_output=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"kcat could not read {topic}: {done.stderr[-500:]!r}")
    out = []
    for chunk in done.stdout.split(RECORD_MARK)[1:]:
        where, _, rest = chunk.partition(b"\n")
        out.append((where.decode(), rest))
    return out


def scan_topics(settings: Settings, sent: Sequence[Sent], since: Ends | None = None) -> list[str]:
    """Where any sent notice's child name or national id appears on Kafka in clear: in every
    topic under the prefix, and in the notices topic too for notices that were sent sealed.
    Only records past ``since`` (end offsets taken before sending) are read: nothing older
    can hold what was sent after it."""
    everywhere = _needles(x for x in sent)
    sealed_only = _needles(x for x in sent if x.item.sealed)
    since = since or {}
    todo = [
        (t, p, since.get((t, p), 0))
        for (t, p), end in end_offsets(settings).items()
        if end > since.get((t, p), 0)
    ]
    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        raw = list(pool.map(lambda job: (job[0], read_raw(settings, *job)), todo))
    leaks: list[str] = []
    for topic, records in raw:
        pattern, names = sealed_only if topic == settings.topics.notices else everywhere
        if pattern is None:
            continue
        for where, data in records:
            found = {names[m.group()] for m in pattern.finditer(data)}
            leaks += [f"{what} in {where}" for what in sorted(found)]
    return leaks


def _needles(sent: Iterable[Sent]) -> tuple[re.Pattern[bytes] | None, dict[bytes, str]]:
    """One pattern for all the secrets (longest first, so a full name is reported as that
    rather than as its family name), and what each one is."""
    names: dict[bytes, str] = {}
    for x in sent:
        for field, secret in x.item.secrets:
            # as UTF-8, and as JSON writes it with ASCII escapes
            for form in {secret.encode(), json.dumps(secret).strip('"').encode()}:
                names[form] = f"{field} of a {x.item.kind} notice"
    if not names:
        return None, names
    ordered = sorted(names, key=len, reverse=True)
    return re.compile(b"|".join(re.escape(n) for n in ordered)), names


# --- a stack's worker -----------------------------------------------------------------------


def worker_exit_code(process: subprocess.Popen[bytes] | None) -> Callable[[], int | None]:
    """None while the worker runs, else its exit code."""

    def code() -> int | None:
        return -999 if process is None else process.poll()

    return code


def log_tail(log: str, lines: int = 40) -> str:
    """The end of a worker log, for a failure message (it holds ids and codes, no values)."""
    return "\n".join(log.splitlines()[-lines:])
