"""`broker directory check|list|add|retire`: the directory validated, shown, added to and
retired from, each change validated as the file is and the retirement audited first."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from broker.adapters.kafka.tls.credentials import Credentials, ensure_credentials
from broker.adapters.policy_files import load_directory, load_policy
from broker.adapters.settings import Settings
from broker.adapters.stores import keyfiles
from broker.adapters.stores.auditor import AuditStore
from broker.cli.directory.retire import AuditUnwritten, Retired, _report, retire_organisation
from broker.core.audit import DIRECTORY_TYPE, RECORD_TYPE, Entry, Retirement, writers
from broker.core.audit.messages import OrganisationRetired, read_audit_message
from broker.core.crypto.registry import KeyKind
from broker.core.deployment.acl import Principals
from broker.core.directory import directory_version
from broker.core.pipeline import OutMessage, Source
from broker.testing.fakes import ready_pipeline
from tests.conftest import POLICIES, SUBJECT_KEY, example


def _broker(policy_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BROKER_POLICY_DIR": str(policy_dir), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "broker", "directory", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_check_passes_on_the_shipped_directory() -> None:
    done = _broker(POLICIES, "check")
    assert done.returncode == 0, done.stderr
    assert "directory OK" in done.stdout
    assert "version sha256:" in done.stdout


def test_list_shows_each_school_with_its_own_topic() -> None:
    done = _broker(POLICIES, "list", "--kind", "school")
    assert done.returncode == 0, done.stderr
    assert "osloskolen-9001" in done.stdout
    assert "deliveries.school.skole-9001" in done.stdout
    assert "child-welfare" not in done.stdout


def test_a_bad_directory_is_named_without_a_traceback(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies)
    (policies / "directory.yaml").write_text(
        "organisations:\n  - {id: skole-x, name: X, kind: bakery}\n", encoding="utf-8"
    )
    done = _broker(policies, "check")
    assert done.returncode == 2
    assert "directory.yaml" in done.stderr
    assert "skole-x: kind: 'bakery' is not a recipient" in done.stderr
    assert "Traceback" not in done.stderr


# --- add -------------------------------------------------------------------------------------


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    copy = tmp_path / "policies"
    shutil.copytree(POLICIES, copy)
    return copy


FRESH = (
    "BROKER_KEY_DIR",
    "BROKER_KEY_REGISTRY",
    "BROKER_AUDIT_STORE",
    "BROKER_KAFKA_CREDENTIALS_DIR",
    "BROKER_BOOTSTRAP",
)


def _run(policies: Path, state: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # a fresh state: not the keys, store or broker the integration suite's session points at
    inherited = {k: v for k, v in os.environ.items() if k not in FRESH}
    environment = {
        **inherited,
        "BROKER_POLICY_DIR": str(policies),
        "BROKER_STATE_DIR": str(state),
        "BROKER_KAFKA_PROFILE": "plaintext",
        "COLUMNS": "250",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "broker", "directory", *args],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


NEW_SCHOOL = ("--id", "skole-9100", "--name", "Eksempelskole nr. 100", "--kind", "school")


def test_add_appends_the_entry_and_says_what_follows(policies: Path, tmp_path: Path) -> None:
    """The principal, the topics and the exact commands for its key, certificate and ACLs."""
    before = (policies / "directory.yaml").read_bytes()
    args = (*NEW_SCHOOL, "--school-id", "osloskolen-9100", "--district", "Alna", "--example")
    done = _run(policies, tmp_path / "state", "add", *args)
    assert done.returncode == 0, done.stderr
    after = (policies / "directory.yaml").read_bytes()
    assert after.startswith(before)
    assert b"  - id: skole-9100\n" in after[len(before) :]
    for expected in (
        "principal:       recipient.skole-9100",
        "delivery topic:  deliveries.school.skole-9100",
        "receipts topic:  receipts.skole-9100",
        f"policy version:  {load_policy(policies).version}",
        "broker keys generate --recipient skole-9100",
        f"python -m broker.adapters.kafka.tls init {tmp_path / 'state' / 'kafka-credentials'} "
        f"--policy-dir {policies}",
        "broker acl apply",
    ):
        assert expected in done.stdout, done.stdout
    listed = _broker(policies, "list", "--kind", "school")
    assert "deliveries.school.skole-9100" in listed.stdout


def test_an_invalid_addition_exits_2_naming_the_field_and_writes_nothing(
    policies: Path, tmp_path: Path
) -> None:
    before = (policies / "directory.yaml").read_bytes()
    for args, problem in (
        (NEW_SCHOOL, "skole-9100: school_id: a school needs the id notices name it by"),
        (
            (*NEW_SCHOOL, "--school-id", "osloskolen-9001"),
            "skole-9100: fills the same place as skole-9001",
        ),
        (
            ("--id", "Skole!", "--name", "X", "--kind", "salto"),
            "Skole!: id: String should match pattern '^[a-z0-9][a-z0-9-]{0,51}$'",
        ),
    ):
        done = _run(policies, tmp_path / "state", "add", *args)
        assert done.returncode == 2, done.stdout
        assert problem in done.stderr.replace("\n", "")
        assert "Traceback" not in done.stderr
    assert (policies / "directory.yaml").read_bytes() == before


def test_add_issue_keys_makes_its_key_and_certificate(policies: Path, tmp_path: Path) -> None:
    """With --issue-keys: its encryption key in the registry and, where the CA is, its client
    certificate; the commands for them are then not among the next steps."""
    state = tmp_path / "state"
    creds = state / "kafka-credentials"
    ensure_credentials(creds, [], server=Principals().node)  # the deployment's CA is here
    args = (*NEW_SCHOOL, "--school-id", "osloskolen-9100", "--issue-keys")
    done = _run(policies, state, "add", *args)
    assert done.returncode == 0, done.stderr
    registry = keyfiles.load_registry(state / "keys" / "registry.yaml")
    entry = registry.active(KeyKind.recipient, "skole-9100")
    assert entry is not None
    assert entry.key_id in done.stdout
    assert Credentials(creds, "recipient.skole-9100").cert.is_file()
    assert "broker keys generate" not in done.stdout
    assert "kafka.tls init" not in done.stdout


# --- retire ----------------------------------------------------------------------------------

ON = date(2026, 6, 30)


@dataclasses.dataclass
class Site:
    """A policy directory, a state dir with the directory-admin's key, and an auditor store
    holding the audit records of example 02 (a threat: skole-9002 receives a copy)."""

    settings: Settings
    store: str
    school_copy: str  # the delivery id of skole-9002's copy

    @property
    def file(self) -> Path:
        return self.settings.policy_dir / "directory.yaml"


@pytest.fixture
def site(policies: Path, tmp_path: Path, now: datetime) -> Site:
    settings = Settings(state_dir=tmp_path / "state", policies=policies)
    keyfiles.ensure(settings.key_paths(), KeyKind.audit_writer, writers.DIRECTORY_ADMIN, now)
    ready = ready_pipeline(load_policy(policies), now=now, subject_key=SUBJECT_KEY)
    result = ready.process(example("threat", now), None, Source("t.notices", 0, 1))
    values = [m.value for m in result.audit_records]
    (school,) = [json.loads(v) for v in values if json.loads(v)["recipient"] == "school"]
    assert school["organisation"] == "skole-9002"
    store = str(tmp_path / "audit.sqlite")
    with AuditStore.open(store) as st:
        st.add(Entry(i, RECORD_TYPE, v) for i, v in enumerate(values))
    return Site(settings, store, school["delivery_id"])


def _retire(site: Site, publish: Callable[[OutMessage], None], now: datetime) -> Retired:
    return retire_organisation(
        site.settings,
        "skole-9002",
        reason="Slått sammen med skole-9001",
        successor="skole-9001",
        on=ON,
        store=site.store,
        publish=publish,
        now=now,
    )


def test_retire_audits_first_then_edits_the_entry(site: Site, now: datetime) -> None:
    """One signed organisation-retired event, attributed to the directory-admin, naming the
    unread copy by id and the new versions; the file has the three lines, nothing else new."""
    before = site.file.read_bytes()
    sent: list[OutMessage] = []

    def publish(message: OutMessage) -> None:
        assert site.file.read_bytes() == before  # the audit first: the file is not yet edited
        sent.append(message)

    done = _retire(site, publish, now)
    (message,) = sent
    assert message.topic == site.settings.topics.audit
    entry = Entry(0, DIRECTORY_TYPE, message.value, tuple(message.headers))
    registry = keyfiles.load_registry(site.settings.key_paths().registry)
    assert writers.check(entry, registry) is None
    event = read_audit_message(DIRECTORY_TYPE, message.value)
    assert isinstance(event, OrganisationRetired)
    after = site.file.read_bytes()
    assert (event.organisation, event.retired_on, event.successor) == (
        "skole-9002",
        ON,
        "skole-9001",
    )
    assert event.unread == event.unreceived == [site.school_copy]
    assert event.directory_version == directory_version(after)
    assert event.policy_version == load_policy(site.settings.policy_dir).version
    assert event.record_id == done.record_id
    assert done.delivered == 1
    inserted = b"    retired: 2026-06-30\n"
    inserted += '    retired_reason: "Slått sammen med skole-9001"\n'.encode()
    inserted += b"    successor: skole-9001\n"
    at = before.index(b"  - id: skole-9003\n")  # skole-9002's entry ends where the next begins
    assert after == before[:at] + inserted + before[at:]
    assert "skole-9002" in load_directory(load_policy(site.settings.policy_dir)).retired


def test_retire_leaves_the_file_unchanged_when_the_audit_topic_is_not_written(
    site: Site, now: datetime
) -> None:
    before = site.file.read_bytes()

    def unreachable(message: OutMessage) -> None:
        raise AuditUnwritten("KafkaConnectionError: Unable to bootstrap")

    with pytest.raises(AuditUnwritten):
        _retire(site, unreachable, now)
    assert site.file.read_bytes() == before


def test_retire_on_an_unreachable_kafka_exits_1_and_changes_nothing(site: Site) -> None:
    """The real command, with nothing listening where Kafka should be."""
    before = site.file.read_bytes()
    done = _run(
        site.settings.policy_dir,
        site.settings.state_dir,
        "retire",
        "skole-9002",
        "--reason",
        "Nedlagt",
        "--on",
        ON.isoformat(),
        "--store",
        site.store,
        BROKER_BOOTSTRAP=f"127.0.0.1:{_closed_port()}",
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "the audit topic was not written" in done.stderr
    assert "the directory is unchanged" in done.stderr.replace("\n", " ")
    assert site.file.read_bytes() == before


def test_retire_refuses_a_day_to_come_and_an_unknown_organisation(site: Site) -> None:
    before = site.file.read_bytes()
    later = (datetime.now().astimezone().date() + timedelta(days=2)).isoformat()
    for args, problem in (
        (("skole-9002", "--reason", "x", "--on", later), "--on: a day still to come"),
        (("skole-9002", "--reason", "x", "--on", "30.06.2026"), "--on: not a date"),
        (("nowhere", "--reason", "x", "--on", ON.isoformat()), "nowhere: id: not in the"),
    ):
        done = _run(site.settings.policy_dir, site.settings.state_dir, "retire", *args)
        assert done.returncode == 2, done.stdout
        assert problem in done.stderr
    assert site.file.read_bytes() == before


def test_list_and_check_show_a_retired_organisation(site: Site, now: datetime) -> None:
    _retire(site, lambda message: None, now)
    listed = _broker(site.settings.policy_dir, "list", "--kind", "school")
    assert "retired 2026-06-30" in listed.stdout
    assert "deliveries.school.skole-9002" not in listed.stdout
    active = _broker(site.settings.policy_dir, "list", "--kind", "school", "--active")
    assert "skole-9002" not in active.stdout
    assert "(1 retired)" in _broker(site.settings.policy_dir, "check").stdout


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_report_lists_fifty_unread_copies_and_counts_the_rest(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every id is in the audit event; the terminal shows the first fifty."""
    ids = tuple(f"{i:032x}" for i in range(60))
    retirement = Retirement(
        "skole-9002", "school", ON, "x", None, "sha256:d", "sha256:p", ids, ids[:1]
    )
    _report(site.settings, Retired("rid", retirement, 60, site.store, 0))
    shown = capsys.readouterr().out
    assert f"{ids[0]}  never received" in shown
    assert f"{ids[49]}  received, never opened" in shown
    assert ids[50] not in shown
    assert "… and 10 more (every id is in the audit event)" in shown
