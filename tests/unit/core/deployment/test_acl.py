"""ACLs generated from the recipient registry, and the secure profile's key material."""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import ssl
import stat
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from broker.adapters import examples
from broker.adapters.kafka.admin import _prunable
from broker.adapters.kafka.security import (
    Credentials,
    KafkaSecurity,
    Profile,
    aiokafka_options,
    ca_key_file,
    ensure_credentials,
    issue,
    make_ca,
    parse_profile,
    ssl_context,
)
from broker.core.deployment.acl import (
    RETIRED_PRINCIPALS,
    AclBinding,
    Operation,
    PatternType,
    Permission,
    Principals,
    ResourceType,
    allows,
    bindings,
    group_prefix,
)
from broker.core.deployment.topics import TopicNames
from broker.core.errors import ConfigError
from broker.core.notices import NOTICE_SENDERS
from tests.conftest import ROOT

P = Principals()
NAMES = TopicNames("t.")
APP = "t.broker"
TOPIC, GROUP = ResourceType.TOPIC, ResourceType.GROUP
R, W = Operation.READ, Operation.WRITE


def registry() -> dict[str, str]:
    """id → delivery topic, read straight from the YAML (not through broker.core.policy)."""
    doc = yaml.safe_load((ROOT / "policies" / "recipients.yaml").read_text(encoding="utf-8"))
    return {r["id"]: r["topic"] for r in doc["recipients"]}


@pytest.fixture(scope="module")
def acls() -> list[AclBinding]:
    return bindings(registry(), NAMES, APP)


def every_topic() -> list[str]:
    reg = registry()
    topics = [NAMES.notices, NAMES.audit, NAMES.dead_letter, NAMES.progress]
    topics += [NAMES.delivery(t) for t in reg.values()]
    topics += [NAMES.receipts(r) for r in reg]
    return topics


def granted(acls: list[AclBinding], principal: str, op: Operation) -> set[str]:
    return {t for t in every_topic() if allows(acls, principal, TOPIC, t, op)}


# the sender classes, read from the notice-type table rather than from broker.core.deployment.acl
SENDER_CLASSES = sorted(set(NOTICE_SENDERS.values()))


@pytest.mark.parametrize("sender", SENDER_CLASSES)
def test_each_publisher_may_only_write_notices(acls: list[AclBinding], sender: str) -> None:
    """Each sender class's principal writes the notices topic and reads nothing: its only
    bindings are WRITE and DESCRIBE on the notices topic."""
    who = P.publisher(sender)
    assert who == f"publisher.{sender}"
    assert granted(acls, who, W) == {"t.notices"}
    assert granted(acls, who, R) == set()
    assert allows(acls, who, TOPIC, "t.notices", Operation.DESCRIBE)
    assert not allows(acls, who, GROUP, APP, R)
    assert not allows(acls, who, GROUP, group_prefix(NAMES, who) + "x", R)
    assert not allows(acls, who, ResourceType.TRANSACTIONAL_ID, f"{APP}-0", W)
    assert not allows(acls, who, ResourceType.CLUSTER, "kafka-cluster", Operation.IDEMPOTENT_WRITE)
    mine = {
        (b.resource_type, b.resource_name, b.operation)
        for b in acls
        if b.principal == f"User:{who}"
    }
    assert mine == {(TOPIC, "t.notices", W), (TOPIC, "t.notices", Operation.DESCRIBE)}


def test_every_sender_class_has_its_own_principal_and_certificate() -> None:
    """One publishing principal per sender class, each issued a certificate; the single
    'police' principal every class once had to use gets no certificate and no ACL."""
    assert P.publishers() == [f"publisher.{s}" for s in SENDER_CLASSES]
    clients = P.clients(registry())
    assert set(P.publishers()) <= set(clients)
    assert len(set(clients)) == len(clients)
    assert "police" not in clients
    assert "police" in RETIRED_PRINCIPALS
    assert not any(b.principal == "User:police" for b in bindings(registry(), NAMES, APP))


def test_an_unknown_sender_class_has_no_principal() -> None:
    """Deny by default: a sender class not in the notice-type table gets no principal."""
    for sender in ("gossip", "Police", "police.x", ""):
        with pytest.raises(ConfigError, match="sender: not a sender class"):
            P.publisher(sender)


def test_prune_deletes_the_retired_police_principals_acls() -> None:
    """`broker acl apply --prune` treats the retired 'police' principal as managed, so an
    upgraded cluster loses its old write access to the notices topic."""
    old = AclBinding("User:police", TOPIC, "t.notices", PatternType.LITERAL, W)
    managed = {b.principal for b in bindings(registry(), NAMES, APP)}
    assert not _prunable(old, managed, "t.")
    assert _prunable(old, managed | {f"User:{p}" for p in RETIRED_PRINCIPALS}, "t.")


@pytest.mark.parametrize("rid", sorted(registry()))
def test_recipient_reads_own_topic_and_writes_own_receipts(
    acls: list[AclBinding], rid: str
) -> None:
    """Each recipient: its delivery topic in, its receipts topic out, nothing else."""
    who = P.recipient(rid)
    assert granted(acls, who, R) == {f"t.{registry()[rid]}"}
    assert granted(acls, who, W) == {f"t.receipts.{rid}"}
    assert allows(acls, who, GROUP, f"t.recipient.{rid}.subscriber", R)
    assert not allows(acls, who, GROUP, APP, R)


def test_recipient_group_prefix_does_not_cover_a_longer_id() -> None:
    """Recipient 'school' cannot use the groups of a recipient 'school2'."""
    acls = bindings({"school": "d.school", "school2": "d.school2"}, NAMES, APP)
    assert not allows(acls, P.recipient("school"), GROUP, "t.recipient.school2.x", R)
    assert allows(acls, P.recipient("school2"), GROUP, "t.recipient.school2.x", R)


def test_recipient_principals_cannot_be_fixed_principals() -> None:
    """A recipient called 'police' or 'admin' is not the police publisher or a super user."""
    acls = bindings({"police": "d.police", "admin": "d.admin"}, NAMES, APP)
    assert P.recipient("police") != P.publisher("police")
    assert not allows(acls, P.recipient("police"), TOPIC, "t.notices", W)
    assert not allows(
        acls, P.recipient("admin"), TOPIC, "t.notices", R, super_users=P.super_users()
    )


def test_worker_has_what_the_pipeline_needs(acls: list[AclBinding]) -> None:
    """The worker reads notices and its own progress (not the audit log, which others may
    write), and writes every delivery, the audit, dead letters and its progress."""
    reg = registry()
    assert granted(acls, P.worker, R) == {"t.notices", "t.worker.progress"}
    assert granted(acls, P.worker, W) == (
        {"t.audit", "t.notices.dead-letter", "t.worker.progress"} | {f"t.{t}" for t in reg.values()}
    )
    assert allows(acls, P.worker, GROUP, APP, R)
    assert allows(acls, P.worker, TOPIC, f"{APP}-table-changelog", Operation.CREATE)
    assert allows(acls, P.worker, ResourceType.TRANSACTIONAL_ID, f"{APP}-0", W)
    assert allows(acls, P.worker, ResourceType.CLUSTER, "kafka-cluster", Operation.IDEMPOTENT_WRITE)
    assert not allows(acls, P.worker, TOPIC, "t.other-app-changelog", Operation.CREATE)


def test_only_the_worker_may_touch_its_progress(acls: list[AclBinding]) -> None:
    """No principal but the worker may read or write the worker's restart state."""
    others = [p for p in P.clients(registry()) if p not in (P.worker, P.admin)]
    assert others
    for who in others:
        for op in (R, W, Operation.DESCRIBE, Operation.DELETE):
            assert not allows(acls, who, TOPIC, NAMES.progress, op), (who, op)


def test_worker_without_transactions_gets_no_transactional_ids() -> None:
    """At least once: no transactional ids and no cluster-wide permission."""
    acls = bindings(registry(), NAMES, APP, transactions=False)
    assert not any(b.resource_type is ResourceType.CLUSTER for b in acls)
    assert not allows(acls, P.worker, ResourceType.TRANSACTIONAL_ID, f"{APP}-0", W)


def test_auditor_reads_the_audit_log_only(acls: list[AclBinding]) -> None:
    """Auditors read the audit topic and write nothing."""
    assert granted(acls, P.auditor, R) == {"t.audit"}
    assert granted(acls, P.auditor, W) == set()
    assert allows(acls, P.auditor, GROUP, group_prefix(NAMES, P.auditor) + "tail", R)


def test_bindings_are_narrow(acls: list[AclBinding]) -> None:
    """Only ALLOW, no wildcard principal or resource, no ALL, none for the super users."""
    assert acls == sorted(set(acls))
    for b in acls:
        assert b.permission is Permission.ALLOW
        assert b.principal != "User:*"
        assert b.resource_name != "*"
        assert b.operation is not Operation.ALL
        assert b.principal not in {f"User:{p}" for p in P.super_users()}
        assert b.host == "*"


def test_allows_follows_kafka_semantics() -> None:
    """Implied DESCRIBE, prefix match, DENY wins, super users pass, no match denies."""
    allow = AclBinding("User:a", TOPIC, "x.", PatternType.PREFIXED, R)
    deny = AclBinding("User:a", TOPIC, "x.secret", PatternType.LITERAL, R, Permission.DENY)
    assert allows([allow], "a", TOPIC, "x.one", Operation.DESCRIBE)
    assert not allows([allow], "a", TOPIC, "y.one", R)
    assert not allows([allow, deny], "a", TOPIC, "x.secret", R)
    assert allows([allow, deny], "a", TOPIC, "x.secret", Operation.DESCRIBE)
    assert not allows([allow], "b", TOPIC, "x.one", R)
    assert allows([], "b", TOPIC, "x.one", W, super_users=["b"])


def test_bad_principal_names_are_refused() -> None:
    """A principal name that could not be a certificate CN is refused, naming it."""
    with pytest.raises(ConfigError, match="'Bad Name'"):
        bindings({"ok": "d"}, NAMES, APP, Principals(auditor="Bad Name"))


# ---------------------------------------------------------------- key material


NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)


def test_issued_certificates_chain_to_the_ca() -> None:
    """A client certificate carries CN=<principal> and is signed by the CA; the server's has
    the loopback SANs the clients verify."""
    ca_key, ca_pem = make_ca(NOW)
    ca = x509.load_pem_x509_certificate(ca_pem)
    _, client_pem = issue(ca_key, ca_pem, "recipient.school", NOW)
    client = x509.load_pem_x509_certificate(client_pem)
    client.verify_directly_issued_by(ca)
    assert client.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        "recipient.school"
    )
    _, server_pem = issue(ca_key, ca_pem, "kafka-node", NOW, server=True)
    sans = x509.load_pem_x509_certificate(server_pem).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert ipaddress.ip_address("127.0.0.1") in sans.value.get_values_for_type(x509.IPAddress)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_credentials_are_private_and_created_once(tmp_path: Path) -> None:
    """Keys and key stores are 0600 in 0700 folders, ca.crt is public; a second run creates
    nothing."""
    d = tmp_path / "creds"
    created = ensure_credentials(d, ["admin", "police"], server="kafka-node", now=NOW)
    assert created == ["ca", "kafka-node", "admin", "police"]
    assert _mode(d) == 0o755
    assert _mode(d / "ca.crt") == 0o644
    for folder in ("ca", "nodes", "admin", "clients"):
        assert _mode(d / folder) == 0o700, folder
    assert _mode(ca_key_file(d)) == 0o600
    for name in ("kafka-node", "admin", "police"):
        c = Credentials(d, name)
        assert _mode(c.key) == 0o600
        assert _mode(c.keystore) == 0o600
    before = Credentials(d, "admin").key.read_bytes()
    assert ensure_credentials(d, ["admin", "police"], server="kafka-node") == []
    assert Credentials(d, "admin").key.read_bytes() == before
    assert ensure_credentials(d, ["admin", "auditor"], server="kafka-node") == ["auditor"]


def test_ca_and_super_user_keys_are_apart_from_client_keys(tmp_path: Path) -> None:
    """The CA key, the node's and the admin's keys each have their own folder: a client given
    only clients/ and ca.crt connects, and holds no key that issues or is a super user."""
    d = tmp_path / "creds"
    ensure_credentials(d, ["admin", "broker", "police"], server="kafka-node", now=NOW)
    keys = {p.relative_to(d).as_posix() for p in d.rglob("*.key")}
    assert keys == {
        "ca/ca.key",
        "nodes/kafka-node.key",
        "admin/admin.key",
        "clients/broker.key",
        "clients/police.key",
    }
    assert {p.relative_to(d).as_posix() for p in d.rglob("*.keystore.pem")} == {
        "nodes/kafka-node.keystore.pem",
        "admin/admin.keystore.pem",
        "clients/broker.keystore.pem",
        "clients/police.keystore.pem",
    }
    props = Credentials(d, "police").java_properties.read_text(encoding="utf-8")
    assert f"ssl.keystore.location={d}/clients/police.keystore.pem" in props
    assert f"ssl.truststore.location={d}/ca.crt" in props
    view = tmp_path / "police-view"  # what a client process is given (mounted)
    shutil.copytree(d / "clients", view / "clients")
    shutil.copy(d / "ca.crt", view / "ca.crt")
    assert isinstance(ssl_context(view, "police"), ssl.SSLContext)
    with pytest.raises(ConfigError, match=r"admin/admin\.crt does not exist"):
        ssl_context(view, "admin")


def test_flat_credentials_are_moved_into_folders(tmp_path: Path) -> None:
    """A directory in the earlier flat layout (every file beside ca.crt) is moved into the
    folders on the next init: the same keys, nothing issued again, properties rewritten."""
    d = tmp_path / "creds"
    ensure_credentials(d, ["admin", "police"], server="kafka-node", now=NOW)
    keys = {n: Credentials(d, n).key.read_bytes() for n in ("kafka-node", "admin", "police")}
    ca_key = ca_key_file(d).read_bytes()
    for folder in ("ca", "nodes", "admin", "clients"):  # flatten, as earlier versions wrote it
        for path in (d / folder).iterdir():
            path.rename(d / path.name)
        (d / folder).rmdir()
    (d / "police.properties").write_text("ssl.keystore.location=old\n", encoding="utf-8")
    assert ensure_credentials(d, ["admin", "police"], server="kafka-node", now=NOW) == []
    assert not (d / "ca.key").exists()
    assert sorted(p.name for p in d.iterdir() if p.is_file()) == ["ca.crt"]
    assert ca_key_file(d).read_bytes() == ca_key
    for name, key in keys.items():
        c = Credentials(d, name)
        assert c.key.read_bytes() == key
        assert _mode(c.key) == 0o600
        assert str(c.keystore) in c.java_properties.read_text(encoding="utf-8")
    assert _mode(d / "ca") == 0o700


def test_client_options(tmp_path: Path) -> None:
    """Plaintext asks for nothing; secure gives aiokafka an SSL context with the CA."""
    assert aiokafka_options(Profile.plaintext, tmp_path, "police") == {
        "security_protocol": "PLAINTEXT"
    }
    ensure_credentials(tmp_path, ["police"], server="kafka-node", now=NOW)
    opts = aiokafka_options(Profile.secure, tmp_path, "police")
    assert opts["security_protocol"] == "SSL"
    ctx = opts["ssl_context"]
    assert isinstance(ctx, ssl.SSLContext)
    assert ctx.verify_mode is ssl.CERT_REQUIRED
    assert ctx.check_hostname
    assert len(ctx.get_ca_certs()) == 1


def test_missing_credentials_name_the_file(tmp_path: Path) -> None:
    """A principal without files: the error names the variable and the missing path."""
    with pytest.raises(ConfigError, match=r"BROKER_KAFKA_CREDENTIALS_DIR: .*ca\.crt"):
        ssl_context(tmp_path, "police")


def test_settings_from_env(tmp_path: Path) -> None:
    """BROKER_KAFKA_* select profile, directory and principal; a bad profile is named."""
    sec = KafkaSecurity.from_env(
        {"BROKER_KAFKA_PROFILE": "secure", "BROKER_KAFKA_PRINCIPAL": "auditor"}, tmp_path
    )
    assert (sec.profile, sec.credentials_dir, sec.who("police")) == (
        Profile.secure,
        tmp_path,
        "auditor",
    )
    assert KafkaSecurity.from_env({}, tmp_path).ssl_context("police") is None
    with pytest.raises(ConfigError, match="BROKER_KAFKA_PROFILE: 'sasl'"):
        parse_profile("sasl")


# ---------------------------------------------------------------- who publishes as whom


@pytest.fixture
def dev_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A state dir with the dev keys of every unit in examples/ (no Kafka needed)."""
    from broker.adapters.settings import Settings  # noqa: PLC0415 - shell modules, for this part only
    from broker.adapters.stores.devkeys import ensure_dev_keys  # noqa: PLC0415

    monkeypatch.setenv("BROKER_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("BROKER_KEY_DIR", raising=False)
    monkeypatch.delenv("BROKER_KEY_REGISTRY", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    ensure_dev_keys(Settings.from_env())
    return tmp_path


def test_publish_connects_as_each_notices_sender_class(
    dev_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`broker publish` of a mixed batch (police, school, child welfare, and a raw drill
    file) opens one producer per sender class, each with its own principal and only its
    class's notices: no school or child-welfare notice goes out as the police."""
    import contextlib  # noqa: PLC0415
    from collections.abc import AsyncIterator  # noqa: PLC0415
    from typing import Any  # noqa: PLC0415

    from typer.testing import CliRunner  # noqa: PLC0415

    from broker.adapters.kafka import clients as kafka  # noqa: PLC0415
    from broker.cli import app  # noqa: PLC0415

    sent: list[tuple[str, str]] = []  # (principal, ce_type)

    @contextlib.asynccontextmanager
    async def fake_producer(bootstrap: str, **kw: Any) -> AsyncIterator[str]:
        yield kw["principal"]

    async def fake_send_all(principal: str, messages: Any) -> None:
        sent.extend((principal, dict(m.headers)["ce_type"].decode()) for m in messages)

    monkeypatch.setattr(kafka, "producer", fake_producer)
    monkeypatch.setattr(kafka, "send_all", fake_send_all)
    files = examples.valid()
    result = CliRunner().invoke(app, ["publish", *map(str, files)])
    assert result.exit_code == 0, result.output
    raw = examples.OTHER_SENDERS / "01-school-concern-report.json"
    result = CliRunner().invoke(app, ["publish", "--skip-validation", str(raw)])
    assert result.exit_code == 0, result.output
    assert len(sent) == len(files) + 1
    for principal, ce_type in sent:
        notice_type = ce_type.removeprefix("no.oslo.broker.").removesuffix("-notice.v1")
        assert principal == P.publisher(NOTICE_SENDERS[notice_type]), ce_type
    by_principal = {p for p, _ in sent}
    assert by_principal == set(P.publishers())
    school = {p for p, t in sent if "concern-report" in t}
    welfare = {p for p, t in sent if "concern-feedback" in t}
    assert school == {"publisher.school"}
    assert welfare == {"publisher.child-welfare"}


def test_a_raw_file_with_no_sender_class_is_not_sent(
    dev_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--skip-validation` of a file whose notice type is unknown and whose issuer has no
    key: there is no sender class to publish it as, so it is refused, not sent as police."""
    from typer.testing import CliRunner  # noqa: PLC0415

    from broker.adapters.kafka import clients as kafka  # noqa: PLC0415
    from broker.cli import app  # noqa: PLC0415

    def no_kafka(*args: object, **kw: object) -> None:
        raise AssertionError("nothing may be sent")

    monkeypatch.setattr(kafka, "producer", no_kafka)
    garbage = dev_env / "garbage.json"
    garbage.write_text('{"notice_type": "rumour"}')
    result = CliRunner().invoke(app, ["publish", "--skip-validation", str(garbage)])
    assert result.exit_code == 1
    text = " ".join(result.output.replace("│", " ").split())  # the table wraps the reason
    assert "not sent" in text
    assert "no sender class to publish it as" in text
