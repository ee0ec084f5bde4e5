"""Signed notices: a round trip verifies; every kind of forgery fails with its own code."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.adapters.examples import EXAMPLES
from broker.adapters.stores import keyfiles
from broker.adapters.stores.keyfiles import KeyPaths
from broker.core import envelope
from broker.core.crypto import signing
from broker.core.crypto.registry import KeyKind, Registry, SigningKey, b64d, b64e
from broker.core.errors import NoticeError
from broker.core.notices import NOTICE_MODELS, NOTICE_SENDERS
from broker.core.pipeline import Result, Source
from broker.core.policy import PolicySet
from broker.testing.fakes import ready_pipeline
from tests.conftest import example

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
UNIT = "oslo-pd-ost"  # the issuing unit of the 'recruited' example
SCHOOL = "osloskolen-9003"  # the issuer of the school's concern report
WELFARE = "bydel-grorud-barnevern"  # the issuer of child welfare's feedback
POLICE = {"sender": "police", "organisation": "oslo-politidistrikt"}


@dataclass
class World:
    paths: KeyPaths
    registry: Registry
    key: SigningKey  # UNIT's active key
    other: SigningKey  # another police unit's key
    school: SigningKey  # SCHOOL's key, bound to the school class
    welfare: SigningKey  # WELFARE's key, bound to the child-welfare class

    def by_class(self, sender: str) -> SigningKey:
        return {"police": self.key, "school": self.school, "child-welfare": self.welfare}[sender]

    def reload(self) -> None:
        self.registry = keyfiles.load_registry(self.paths.registry)


@pytest.fixture
def world(tmp_path: Path) -> World:
    paths = KeyPaths.under(tmp_path / "keys")
    keyfiles.generate(paths, KeyKind.publisher, UNIT, NOW, **POLICE)
    keyfiles.generate(paths, KeyKind.publisher, "oslo-pd-syd", NOW, **POLICE)
    keyfiles.generate(
        paths, KeyKind.publisher, SCHOOL, NOW, sender="school", organisation="osloskolen"
    )
    keyfiles.generate(
        paths, KeyKind.publisher, WELFARE, NOW, sender="child-welfare", organisation="bydel-grorud"
    )
    keyfiles.generate(paths, KeyKind.broker, "broker", NOW)
    keyfiles.generate(paths, KeyKind.recipient, "school", NOW)
    registry = keyfiles.load_registry(paths.registry)
    return World(
        paths,
        registry,
        keyfiles.signing_key(paths, registry, KeyKind.publisher, UNIT),
        keyfiles.signing_key(paths, registry, KeyKind.publisher, "oslo-pd-syd"),
        keyfiles.signing_key(paths, registry, KeyKind.publisher, SCHOOL),
        keyfiles.signing_key(paths, registry, KeyKind.publisher, WELFARE),
    )


def signed(
    key: SigningKey, when: datetime = NOW, name: str = "recruited"
) -> tuple[bytes, dict[str, bytes]]:
    doc = example(name)
    notice = NOTICE_MODELS[(doc["notice_type"], 1)].model_validate(doc)
    _, value, headers = envelope.encode_notice(notice, b"key", when)
    return value, dict(signing.sign(headers, value, key))


def verifier(world: World) -> signing.NoticeVerifier:
    return signing.NoticeVerifier(world.registry, signing.MemoryReplayGuard())


def code_of(check: Callable[[], object]) -> str:
    with pytest.raises(signing.VerificationError) as caught:
        check()
    assert isinstance(caught.value, NoticeError)  # so the pipeline dead-letters and audits it
    return caught.value.code


def test_signed_notice_verifies_and_still_decodes(world: World) -> None:
    """The publisher's signature verifies and the extension headers do not upset decoding."""
    value, headers = signed(world.key)
    verified = verifier(world).verify(headers, value, position="n/0/1", now=NOW)
    assert (verified.owner, verified.key_id) == (UNIT, world.key.key_id)
    assert set(headers) >= {"ce_signature", "ce_keyid"}
    notice = envelope.decode_notice(headers, value)
    assert str(notice.notice_id) == verified.message_id
    signing.check_issuer(verified, notice.issuer.unit_id)


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


FORGERIES: dict[
    str, tuple[str, Callable[[World, bytes, dict[str, bytes]], tuple[bytes, dict[str, bytes]]]]
] = {
    "bit flip in value": ("signature-invalid", lambda w, v, h: (_flip(v, len(v) // 2), h)),
    "changed ce_id": ("signature-invalid", lambda w, v, h: (v, {**h, "ce_id": b"0" * 36})),
    "changed ce_type": (
        "signature-invalid",
        lambda w, v, h: (v, {**h, "ce_type": b"no.oslo.broker.risk-notice.v1"}),
    ),
    "changed ce_time": (
        "signature-invalid",
        lambda w, v, h: (v, {**h, "ce_time": b"2026-11-26T11:59:00+00:00"}),
    ),
    "changed ce_source": (
        "key-owner-mismatch",
        lambda w, v, h: (v, {**h, "ce_source": b"/police/oslo-pd-syd"}),
    ),
    "ce_source with the unit under another path": (
        "key-owner-mismatch",
        lambda w, v, h: (v, {**h, "ce_source": b"/police/x/oslo-pd-ost"}),
    ),
    "ce_source without the sender class": (
        "key-owner-mismatch",
        lambda w, v, h: (v, {**h, "ce_source": b"oslo-pd-ost"}),
    ),
    "ce_source naming another sender class": (
        "sender-not-authorised",
        lambda w, v, h: (v, {**h, "ce_source": b"/school/oslo-pd-ost"}),
    ),
    "signed with another unit's key, claiming this unit's key id": (
        "signature-invalid",
        lambda w, v, h: (
            v,
            {**dict(signing.sign(h.items(), v, w.other)), "ce_keyid": w.key.key_id.encode()},
        ),
    ),
    "unknown key id": (
        "key-unknown",
        lambda w, v, h: (v, {**h, "ce_keyid": b"ed25519-0000000000000000"}),
    ),
    "garbage key id": ("key-unknown", lambda w, v, h: (v, {**h, "ce_keyid": b"<script>"})),
    "a recipient's key id": (
        "key-unknown",
        lambda w, v, h: (
            v,
            {**h, "ce_keyid": w.registry.active(KeyKind.recipient, "school").key_id.encode()},  # type: ignore[union-attr]
        ),
    ),
    "unsigned": (
        "signature-missing",
        lambda w, v, h: (v, {k: x for k, x in h.items() if k != "ce_signature"}),
    ),
    "key id without signature header": (
        "signature-missing",
        lambda w, v, h: (v, {k: x for k, x in h.items() if k != "ce_keyid"}),
    ),
    "signature not base64": (
        "signature-malformed",
        lambda w, v, h: (v, {**h, "ce_signature": b"!!"}),
    ),
    "truncated signature": (
        "signature-malformed",
        lambda w, v, h: (v, {**h, "ce_signature": h["ce_signature"][:-4]}),
    ),
}


@pytest.mark.parametrize("name", list(FORGERIES))
def test_forgery_is_rejected_with_its_code(world: World, name: str) -> None:
    """Each way of tampering with a signed notice fails verification with a distinct code."""
    expected, forge = FORGERIES[name]
    value, headers = signed(world.key)
    value, headers = forge(world, value, headers)
    assert (
        code_of(lambda: verifier(world).verify(headers, value, position="n/0/1", now=NOW))
        == expected
    )


def test_broker_signature_cannot_pass_as_a_notice_signature(world: World) -> None:
    """Domain separation: a publisher key signing in the delivery domain does not verify."""
    doc = example("recruited")
    notice = NOTICE_MODELS[(doc["notice_type"], 1)].model_validate(doc)
    _, value, headers = envelope.encode_notice(notice, None, NOW)
    forged = dict(signing.sign(headers, value, world.key, purpose=signing.DELIVERY))
    assert code_of(lambda: verifier(world).verify(forged, value, position="n/0/1", now=NOW)) == (
        "signature-invalid"
    )


def test_replay_at_another_offset_is_rejected_but_redelivery_is_not(world: World) -> None:
    """The same signed notice read again at its own offset passes (Kafka redelivery); the same
    bytes published again elsewhere are a replay."""
    value, headers = signed(world.key)
    v = verifier(world)
    v.verify(headers, value, position="n/0/1", now=NOW)
    v.verify(headers, value, position="n/0/1", now=NOW + timedelta(minutes=1))
    assert code_of(lambda: v.verify(headers, value, position="n/2/7", now=NOW)) == "notice-replayed"


def test_a_forgery_does_not_burn_the_real_notice_id(world: World) -> None:
    """Ids are claimed only after the signature holds: a forged copy sent first changes nothing."""
    value, headers = signed(world.key)
    v = verifier(world)
    assert (
        code_of(lambda: v.verify(headers, _flip(value, 10), position="n/0/1", now=NOW))
        == "signature-invalid"
    )
    v.verify(headers, value, position="n/0/2", now=NOW)


@pytest.mark.parametrize(
    ("age", "code"),
    [(timedelta(hours=49), "notice-stale"), (timedelta(minutes=-6), "notice-stale")],
    ids=["too old", "from the future"],
)
def test_notice_outside_the_time_window_is_stale(world: World, age: timedelta, code: str) -> None:
    """ce_time must lie within 48 hours before and 5 minutes after the worker's clock."""
    value, headers = signed(world.key, when=NOW - age)
    assert (
        code_of(lambda: verifier(world).verify(headers, value, position="n/0/1", now=NOW)) == code
    )


def test_notice_inside_the_window_edges_is_accepted(world: World) -> None:
    """Just inside both edges passes: the window is not off by one in either direction."""
    for i, age in enumerate((timedelta(hours=47, minutes=59), timedelta(minutes=-4))):
        value, headers = signed(world.key, when=NOW - age, name=("recruited", "threat")[i])
        verifier(world).verify(headers, value, position=f"n/0/{i}", now=NOW)


def test_rotated_key_verifies_and_retired_key_is_refused(world: World) -> None:
    """After rotation old signatures still verify; once the old key is retired they do not."""
    value, headers = signed(world.key)
    keyfiles.rotate(world.paths, KeyKind.publisher, UNIT, NOW)
    world.reload()
    verifier(world).verify(headers, value, position="n/0/1", now=NOW)
    keyfiles.retire(world.paths, world.key.key_id, NOW)
    world.reload()
    assert code_of(lambda: verifier(world).verify(headers, value, position="n/0/1", now=NOW)) == (
        "key-retired"
    )


def test_issuer_in_the_notice_must_be_the_signing_unit(world: World) -> None:
    """A unit cannot sign a notice whose body claims another unit issued it."""
    value, headers = signed(world.key)
    verified = verifier(world).verify(headers, value, position="n/0/1", now=NOW)
    assert code_of(lambda: signing.check_issuer(verified, "oslo-pd-syd")) == "issuer-mismatch"


def test_error_text_never_echoes_an_unregistered_key_id(world: World) -> None:
    """A header is attacker-controlled: text that is not a key id is not copied into errors."""
    value, headers = signed(world.key)
    headers["ce_keyid"] = b"12345678901 Ola Nordmann"
    with pytest.raises(signing.VerificationError) as caught:
        verifier(world).verify(headers, value, position="n/0/1", now=NOW)
    assert "Ola" not in str(caught.value)
    assert "12345678901" not in str(caught.value)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_any_single_bit_flip_is_rejected(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    """Property: flipping any one bit of the value or the signature never verifies."""
    paths = KeyPaths.under(tmp_path_factory.mktemp("k") / "keys")
    keyfiles.generate(paths, KeyKind.publisher, UNIT, NOW, **POLICE)
    registry = keyfiles.load_registry(paths.registry)
    value, headers = signed(keyfiles.signing_key(paths, registry, KeyKind.publisher, UNIT))
    target = data.draw(st.sampled_from(["value", "signature"]))
    if target == "value":
        value = _flip(value, data.draw(st.integers(0, len(value) - 1)))
    else:
        raw = b64d(headers["ce_signature"].decode())
        raw = _flip(raw, data.draw(st.integers(0, len(raw) - 1)))
        headers["ce_signature"] = b64e(raw).encode()
    with pytest.raises(signing.VerificationError):
        signing.verify(headers, value, registry, kind=KeyKind.publisher)


# --- sender authority --------------------------------------------------------------------

# one example notice of each type, and the unit that signs it in each test
TYPE_EXAMPLES = {
    "incident": EXAMPLES / "01-recruited-for-paid-assault.json",
    "risk": EXAMPLES / "02-threat-against-school-staff.json",
    "concern-report": EXAMPLES / "other-senders" / "01-school-concern-report.json",
    "concern-feedback": EXAMPLES / "other-senders" / "02-child-welfare-feedback.json",
}
UNIT_OF = {"police": UNIT, "school": SCHOOL, "child-welfare": WELFARE}


def signed_by_class(
    world: World, sender: str, notice_type: str, *, source_class: str | None = None
) -> tuple[bytes, dict[str, bytes]]:
    """A notice of ``notice_type`` issued and signed by the unit of class ``sender``, its
    ``ce_source`` naming ``source_class`` (default: the signer's own class, i.e. honest)."""
    doc = json.loads(TYPE_EXAMPLES[notice_type].read_text(encoding="utf-8"))
    doc["issuer"]["unit_id"] = UNIT_OF[sender]
    notice = NOTICE_MODELS[(notice_type, 1)].model_validate(doc)
    _, value, headers = envelope.encode_notice(notice, None, NOW)
    source = f"/{source_class or sender}/{UNIT_OF[sender]}".encode()
    headers = tuple((k, source if k == "ce_source" else v) for k, v in headers)
    return value, dict(signing.sign(headers, value, world.by_class(sender)))


def test_verified_carries_the_units_sender_class_and_organisation(world: World) -> None:
    """Verification reports the class and organisation the registry binds the signer to."""
    value, headers = signed_by_class(world, "school", "concern-report")
    verified = verifier(world).verify(headers, value, position="n/0/1", now=NOW)
    assert (verified.owner, verified.sender, verified.organisation) == (
        SCHOOL,
        "school",
        "osloskolen",
    )


@pytest.mark.parametrize("notice_type", sorted(NOTICE_SENDERS))
@pytest.mark.parametrize("sender", sorted(set(NOTICE_SENDERS.values())))
def test_a_unit_may_send_only_the_notice_types_of_its_class(
    world: World, sender: str, notice_type: str
) -> None:
    """Every (signer's class, notice type) pair, each honestly labelled in ce_source: the
    signature verifies, and check_sender passes exactly when NOTICE_SENDERS gives the type to
    that class (a school key and an incident notice, a police key and concern feedback, a
    child-welfare key and a concern report, ... are refused)."""
    value, headers = signed_by_class(world, sender, notice_type)
    verified = verifier(world).verify(headers, value, position="n/0/1", now=NOW)
    notice = envelope.decode_notice(headers, value)
    signing.check_issuer(verified, notice.issuer.unit_id)
    if NOTICE_SENDERS[notice_type] == sender:
        signing.check_sender(verified, notice.notice_type)
        return
    with pytest.raises(signing.VerificationError) as caught:
        signing.check_sender(verified, notice.notice_type)
    error = caught.value
    assert error.code == "sender-not-authorised"
    assert [p.field for p in error.problems] == ["ce_type"]
    assert "may not send this notice type" in str(error)
    for value_text in (*UNIT_OF.values(), *NOTICE_SENDERS, *NOTICE_SENDERS.values()):
        assert value_text not in str(error)  # the reason, never the values


def test_check_sender_denies_by_default(world: World) -> None:
    """An unknown notice type, or a key bound to no class, is never authorised."""
    value, headers = signed_by_class(world, "police", "incident")
    verified = verifier(world).verify(headers, value, position="n/0/1", now=NOW)
    assert code_of(lambda: signing.check_sender(verified, "rumour")) == "sender-not-authorised"
    unbound = dataclasses.replace(verified, sender=None)
    assert code_of(lambda: signing.check_sender(unbound, "incident")) == "sender-not-authorised"


@pytest.mark.parametrize(
    ("sender", "notice_type", "claimed"),
    [
        ("school", "incident", "police"),
        ("police", "concern-feedback", "child-welfare"),
        ("child-welfare", "concern-report", "school"),
        ("school", "concern-report", "police"),
    ],
)
def test_ce_source_naming_another_class_than_the_key_is_refused(
    world: World, sender: str, notice_type: str, claimed: str
) -> None:
    """A unit that labels its notice as another class's (a school key with
    ce_source /police/...) fails verification itself, before the notice is read."""
    value, headers = signed_by_class(world, sender, notice_type, source_class=claimed)
    with pytest.raises(signing.VerificationError) as caught:
        verifier(world).verify(headers, value, position="n/0/1", now=NOW)
    assert caught.value.code == "sender-not-authorised"
    assert [p.field for p in caught.value.problems] == ["ce_source"]
    assert claimed not in str(caught.value)


def test_the_publisher_labels_a_school_incident_as_police_and_is_refused(world: World) -> None:
    """What `broker publish` would send for an incident notice issued by a school unit:
    ce_source follows the notice type (/police/<school unit>), so verification refuses it."""
    doc = example("recruited")
    doc["issuer"]["unit_id"] = SCHOOL
    notice = NOTICE_MODELS[("incident", 1)].model_validate(doc)
    _, value, headers = envelope.encode_notice(notice, None, NOW)
    assert dict(headers)["ce_source"] == f"/police/{SCHOOL}".encode()
    forged = dict(signing.sign(headers, value, world.school))
    assert code_of(lambda: verifier(world).verify(forged, value, position="n/0/1", now=NOW)) == (
        "sender-not-authorised"
    )


def test_the_pipeline_dead_letters_a_notice_from_the_wrong_class(
    world: World, policy: PolicySet
) -> None:
    """Wired into Pipeline.process after check_issuer: a school key's incident notice and a
    police key's concern feedback are dead-lettered (sender-not-authorised) and audited, with
    no decision and no delivery; the school's own concern report is decided. (The pipeline's
    units hold keys of their own: each notice is signed by the unit its ce_source names, then
    sealed to the broker.)"""
    ready = ready_pipeline(policy, now=NOW, units={u: c for c, u in UNIT_OF.items()})

    def process(sender: str, notice_type: str, offset: int) -> Result:
        value, headers = signed_by_class(world, sender, notice_type)
        sealed_headers, sealed = ready.publish(value, list(headers.items()))
        return ready.pipeline.process(sealed, sealed_headers, Source("t.notices", 0, offset))

    for offset, (sender, notice_type) in enumerate(
        [("school", "incident"), ("police", "concern-feedback")]
    ):
        result = process(sender, notice_type, offset)
        assert result.error is not None
        assert result.error.code == "sender-not-authorised"
        assert result.decisions == ()
        assert result.deliveries == ()
        assert result.dead_letter is not None
        (audit,) = result.audit_records
        record = json.loads(audit.value)
        assert record["event"] == "dead-letter"
        assert record["reasons"][0].startswith("sender-not-authorised: ce_type")
    result = process("school", "concern-report", 9)
    assert result.error is None
    assert len(result.decisions) == len(policy.recipients)
    assert result.deliveries


def test_the_memory_guard_forgets_an_id_only_after_its_window() -> None:
    """An id is new once, again at its own position, refused elsewhere until pruned past its
    window; pruning counts what it forgot."""
    guard = signing.MemoryReplayGuard()
    until = NOW + timedelta(hours=48)
    assert guard.claim("n1", "n/0/1", until)
    assert guard.claim("n1", "n/0/1", until)
    assert not guard.claim("n1", "n/2/7", until)
    assert guard.prune(until) == 0
    assert len(guard) == 1
    assert guard.prune(until + timedelta(seconds=1)) == 1
    assert len(guard) == 0
    assert guard.claim("n1", "n/2/7", until)
