"""ACLs generated from the recipient registry, and who connects as which principal."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from broker.adapters import examples
from broker.adapters.kafka.admin import _prunable
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
    is_auditor,
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
    topics = [NAMES.notices, NAMES.audit, NAMES.dead_letter, NAMES.progress, NAMES.routed]
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
    """The worker reads notices, its routed inputs and its own progress (not the audit log,
    which others may write), and writes every delivery, the audit, dead letters, its routed
    inputs and its progress."""
    reg = registry()
    assert granted(acls, P.worker, R) == {"t.notices", "t.notices.by-id", "t.worker.progress"}
    own = {"t.audit", "t.notices.dead-letter", "t.notices.by-id", "t.worker.progress"}
    assert granted(acls, P.worker, W) == own | {f"t.{t}" for t in reg.values()}
    assert allows(acls, P.worker, GROUP, APP, R)
    assert allows(acls, P.worker, TOPIC, f"{APP}-table-changelog", Operation.CREATE)
    assert allows(acls, P.worker, ResourceType.TRANSACTIONAL_ID, f"{APP}-0", W)
    assert allows(acls, P.worker, ResourceType.CLUSTER, "kafka-cluster", Operation.IDEMPOTENT_WRITE)
    assert not allows(acls, P.worker, TOPIC, "t.other-app-changelog", Operation.CREATE)


@pytest.mark.parametrize("topic", [NAMES.progress, NAMES.routed])
def test_only_the_worker_may_touch_its_progress_and_routed_inputs(
    acls: list[AclBinding], topic: str
) -> None:
    """No principal but the worker may read or write the worker's restart state, or the
    routed inputs (a publisher writing there could put a replay on a partition that does not
    own its id)."""
    others = [p for p in P.clients(registry()) if p not in (P.worker, P.admin)]
    assert others
    for who in others:
        for op in (R, W, Operation.DESCRIBE, Operation.DELETE):
            assert not allows(acls, who, TOPIC, topic, op), (who, op)


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


def test_auditor_principals() -> None:
    """The auditor page admits ``auditor`` and ``auditor.<name>``, nothing else."""
    assert is_auditor("auditor")
    assert is_auditor("auditor.kari")
    assert not is_auditor("auditor.")
    assert not is_auditor("auditors")
    assert not is_auditor("worker")


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
