"""`broker directory retire` on the real broker, secure profile: the retirement is a signed
organisation-retired event in the audit log, written as the directory-admin principal, that
names the copies left unread; `broker audit verify` attributes it; `broker acl apply --prune`
then takes the organisation's ACLs away."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from broker.adapters.kafka.clients import producer, send_all
from broker.adapters.policy_files import load_directory, load_policy
from broker.adapters.settings import Settings
from broker.adapters.stores import keyfiles
from broker.adapters.stores.auditor import AuditStore
from broker.core.audit import ce_headers, writers
from broker.core.audit.access import AUDIT_RECEIPT_TYPE, State, audit_event, receipt
from broker.core.audit.messages import OrganisationRetired, read_stored_record
from broker.core.deployment.acl import Principals
from broker.core.directory import Organisation
from broker.core.pipeline import OutMessage, Source
from broker.services.local import create_topics
from broker.testing.directories import TWO_SCHOOLS_TWO_DISTRICTS, policy_dir_with
from broker.testing.fakes import ready_pipeline
from tests.conftest import POLICIES, ROOT, example

pytestmark = pytest.mark.integration

GONE = "skole-9002"  # example 02's school: its pupil's threat is delivered to it


@dataclasses.dataclass
class Site:
    settings: Settings
    env: dict[str, str]

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "broker", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if check:
            assert done.returncode == 0, done.stdout + done.stderr
        return done

    async def send(self, principal: str, messages: list[OutMessage]) -> None:
        async with producer(self.settings.bootstrap, principal=principal) as p:
            await send_all(p, messages)

    def writer_key(self, writer: str) -> Any:
        paths = self.settings.key_paths()
        return keyfiles.writer_key(paths, keyfiles.load_registry(paths.registry), writer)


@pytest.fixture
def site(kafka: str, tmp_path: Path) -> Site:
    """Topics, ACLs and keys of their own for two schools and two districts."""
    prefix = f"it-retire-{uuid.uuid4().hex[:8]}."
    policies = policy_dir_with(POLICIES, tmp_path / "policies", TWO_SCHOOLS_TWO_DISTRICTS)
    settings = dataclasses.replace(
        Settings.from_env(),
        bootstrap=kafka,
        topic_prefix=prefix,
        state_dir=tmp_path / "state",
        app_id=f"{prefix}oslo-share-broker",
        policies=policies,
    )
    create_topics(settings)  # and the ACLs of each principal, the directory-admin's among them
    env = settings.process_env() | {"COLUMNS": "250"}
    for name in ("BROKER_AUDIT_STORE", "BROKER_AUDIT_WITNESS", "BROKER_AUDIT_KEY_FILE"):
        env.pop(name, None)
    return Site(settings, env)


def _deliver_twice_and_open_once(site: Site) -> tuple[str, str]:
    """Two threats by pupils of skole-9002, decided by the real pipeline and written to the
    audit topic as the worker; a receipt for the first copy, opened, relayed as the relay's.
    Returns (the opened copy's delivery id, the unread one's)."""
    s, now = site.settings, datetime.now(UTC)
    ready = ready_pipeline(
        load_policy(s.policy_dir),
        now=now,
        topics=s.topics,
        subject_key=s.subject_key(),
        audit_key=site.writer_key(writers.WORKER),
    )
    records: list[OutMessage] = []
    for n in range(2):
        doc = example("threat", now)
        doc["notice_id"] = str(uuid.uuid4())
        records += ready.process(doc, None, Source(s.topics.notices, 0, n)).audit_records
    copies = [json.loads(m.value) for m in records]
    opened, unread = [c["delivery_id"] for c in copies if c.get("organisation") == GONE]
    asyncio.run(site.send(Principals().worker, records))
    _, value = receipt(opened, State.opened, now)
    gone = Organisation(id=GONE, name=GONE, kind="school")
    rid, relayed = audit_event(value, gone, f"{s.topics.receipts(GONE)}/0/0", now)
    headers = writers.sign(
        ce_headers(AUDIT_RECEIPT_TYPE, rid, now), relayed, site.writer_key(writers.RELAY)
    )
    message = OutMessage(s.topics.audit, None, relayed, headers)
    asyncio.run(site.send(Principals().relay, [message]))
    return opened, unread


def _acls_of(site: Site, principal: str) -> str:
    return site.run("acl", "list", "--principal", principal).stdout


def test_a_retirement_is_signed_in_the_audit_log_and_verifies(site: Site) -> None:
    opened, unread = _deliver_twice_and_open_once(site)
    site.run("audit", "seal", "--once", "--every", "1")
    site.run("audit", "sync")
    who = Principals.recipient(GONE)
    assert f"{site.settings.topic_prefix}deliveries.school.{GONE}" in _acls_of(site, who)

    on = (datetime.now().astimezone().date() - timedelta(days=1)).isoformat()
    retired = site.run(
        "directory", "retire", GONE, "--reason", "Slått sammen", "--successor", "skole-9001",
        "--on", on,
    )  # fmt: skip
    report = " ".join(retired.stdout.split())
    assert f"retired {GONE} (school) on {on}" in report
    assert "2 copies delivered, 1 never opened, 1 of them never received" in report
    assert f"{unread} never received" in report
    assert opened not in report
    directory = load_directory(load_policy(site.settings.policy_dir))
    assert GONE in directory.retired
    assert GONE not in directory.topics

    site.run("audit", "seal", "--once", "--every", "1")
    verified = site.run("audit", "verify")
    assert "attributed: an entitled writer signed every message" in verified.stdout
    site.run("audit", "sync")
    store = site.settings.state_dir / "audit" / "audit.sqlite"
    with AuditStore.open(store) as st:
        found = [
            m
            for row, _ in st.scan()
            if row["event"] == "organisation-retired"
            for m in [read_stored_record(json.loads(bytes(row["value"])))]
        ]
    (event,) = found
    assert isinstance(event, OrganisationRetired)
    assert (event.organisation, event.successor, event.unread) == (GONE, "skole-9001", [unread])
    assert event.unreceived == [unread]
    assert event.directory_version == directory.version
    assert event.policy_version == load_policy(site.settings.policy_dir).version

    pruned = site.run("acl", "apply", "--prune")
    assert "deleted" in pruned.stdout
    # this deployment's (other deployments on the same broker keep theirs)
    prefix = site.settings.topic_prefix
    assert f"{prefix}deliveries.school.{GONE}" not in _acls_of(site, who)
    assert f"{prefix}receipts.{GONE}" not in _acls_of(site, Principals().relay)
    assert "skole-9001" in _acls_of(site, Principals.recipient("skole-9001"))


def test_an_audit_topic_refused_to_the_directory_admin_leaves_the_file(site: Site) -> None:
    """With no ACL to write the audit topic (another deployment's prefix), the retirement is
    not audited, so the file is not changed: exit 1."""
    before = (site.settings.policy_dir / "directory.yaml").read_bytes()
    env = site.env | {"BROKER_TOPIC_PREFIX": f"it-elsewhere-{uuid.uuid4().hex[:8]}."}
    done = subprocess.run(
        [sys.executable, "-m", "broker", "directory", "retire", GONE, "--reason", "x"],
        env=env | {"BROKER_AUDIT_STORE": str(site.settings.state_dir / "empty.sqlite")},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "the audit topic was not written" in done.stderr
    assert (site.settings.policy_dir / "directory.yaml").read_bytes() == before
    assert os.environ.get("BROKER_KAFKA_PROFILE") == "secure"
