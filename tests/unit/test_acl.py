"""ACLs generated from the recipient registry, and the secure profile's key material."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import stat
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from broker.acl import (
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
from broker.errors import ConfigError
from broker.kafka_security import (
    Credentials,
    KafkaSecurity,
    Profile,
    aiokafka_options,
    ensure_credentials,
    issue,
    make_ca,
    parse_profile,
    ssl_context,
)
from broker.topics import TopicNames
from tests.conftest import ROOT

P = Principals()
NAMES = TopicNames("t.")
APP = "t.broker"
TOPIC, GROUP = ResourceType.TOPIC, ResourceType.GROUP
R, W = Operation.READ, Operation.WRITE


def registry() -> dict[str, str]:
    """id → delivery topic, read straight from the YAML (not through broker.policy)."""
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


def test_police_may_only_write_notices(acls: list[AclBinding]) -> None:
    """The police principal writes the notices topic and reads nothing."""
    assert granted(acls, P.police, W) == {"t.notices"}
    assert granted(acls, P.police, R) == set()
    assert allows(acls, P.police, TOPIC, "t.notices", Operation.DESCRIBE)
    assert not allows(acls, P.police, GROUP, APP, R)


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
    assert P.recipient("police") != P.police
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
        {"t.audit", "t.notices.dead-letter", "t.worker.progress"}
        | {f"t.{t}" for t in reg.values()}
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
        bindings({"ok": "d"}, NAMES, APP, Principals(police="Bad Name"))


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


def test_credentials_are_private_and_created_once(tmp_path: Path) -> None:
    """Keys and key stores are 0600 in a 0700 directory; a second run creates nothing."""
    d = tmp_path / "creds"
    created = ensure_credentials(d, ["admin", "police"], server="kafka-node", now=NOW)
    assert created == ["ca", "kafka-node", "admin", "police"]
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    for name in ("ca", "kafka-node", "admin", "police"):
        c = Credentials(d, name)
        assert stat.S_IMODE(c.key.stat().st_mode) == 0o600
    assert stat.S_IMODE(Credentials(d, "admin").keystore.stat().st_mode) == 0o600
    before = Credentials(d, "admin").key.read_bytes()
    assert ensure_credentials(d, ["admin", "police"], server="kafka-node") == []
    assert Credentials(d, "admin").key.read_bytes() == before
    assert ensure_credentials(d, ["admin", "auditor"], server="kafka-node") == ["auditor"]


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
