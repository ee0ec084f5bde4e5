"""The audit commands on a real audit topic: seal, verify, sync, dump, proofs, subject report,
reviews, and the tamper drills on a dump of the topic, each named by `broker audit verify`; and
a record forged by a principal that may write the topic, sealed but named as unattributed."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.adapters.kafka.clients import producer, send_all
from broker.adapters.settings import Settings
from broker.adapters.stores import keyfiles
from broker.adapters.stores.auditor import AuditStore, Filters
from broker.core.audit import CHECKPOINT_TYPE, RECORD_TYPE, Checkpoint, Entry, writers
from broker.core.audit import ce_headers as ce_headers_audit
from broker.core.crypto import refs
from broker.core.crypto.registry import SigningKey
from broker.core.deployment.acl import Principals
from broker.core.pipeline import OutMessage, Source
from broker.core.policy import PolicySet
from broker.services.local import create_topics
from broker.testing import audit as drill
from broker.testing.fakes import ready_pipeline
from tests.conftest import ROOT, example

pytestmark = pytest.mark.integration

SENT = datetime.now(UTC)  # this module's notices are sent now, on the real clock like the CLI's
NATIONAL_ID_OF = {n: example(n, SENT)["child"]["national_id"] for n in ("recruited", "robbery")}


@dataclasses.dataclass
class Audit:
    settings: Settings
    env: dict[str, str]
    published: list[dict[str, Any]]  # the audit records sent, in order

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "broker", "audit", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        return result

    def writer_key(self, writer: str) -> SigningKey:
        paths = self.settings.key_paths()
        return keyfiles.writer_key(paths, keyfiles.load_registry(paths.registry), writer)

    def publish(self, policy: PolicySet, names: list[str], urgent: bool = False) -> None:
        """Audit records of the real pipeline, signed and written as the worker's."""
        s = self.settings
        key = self.writer_key(writers.WORKER)
        ready = ready_pipeline(
            policy, now=SENT, topics=s.topics, subject_key=s.subject_key(), audit_key=key
        )
        messages: list[OutMessage] = []
        for n, name in enumerate(names):
            doc = example(name, SENT)
            doc["notice_id"] = str(uuid.uuid4())
            if urgent:
                doc["danger_to_life_or_health"] = True
            result = ready.process(doc, source=Source(s.topics.notices, 0, n))
            assert result.error is None, result.error
            messages += result.audit_records
        self.published += [json.loads(m.value) for m in messages]

        async def send() -> None:
            async with producer(s.bootstrap, principal=Principals().worker) as p:
                await send_all(p, messages)

        asyncio.run(send())


@pytest.fixture(scope="module")
def audit(kafka: str, tmp_path_factory: pytest.TempPathFactory, policy: PolicySet) -> Audit:
    """An audit topic of its own, filled by the real pipeline, sealed by `broker audit seal`."""
    prefix = f"it-audit-{uuid.uuid4().hex[:8]}."
    state = tmp_path_factory.mktemp("audit-state")
    settings = dataclasses.replace(
        Settings.from_env(),
        bootstrap=kafka,
        topic_prefix=prefix,
        state_dir=state,
        app_id=f"{prefix}oslo-share-broker",
    )
    create_topics(settings)  # and, in the secure profile, the ACLs of each principal
    env = {
        **os.environ,
        "BROKER_TOPIC_PREFIX": prefix,
        "BROKER_BOOTSTRAP": kafka,
        "BROKER_STATE_DIR": str(state),
        "COLUMNS": "200",
    }
    for name in ("BROKER_AUDIT_STORE", "BROKER_AUDIT_WITNESS", "BROKER_AUDIT_KEY_FILE"):
        env.pop(name, None)
    a = Audit(settings, env, [])
    a.publish(policy, ["recruited", "threat"])
    a.run("seal", "--once", "--every", "5")
    a.publish(policy, ["robbery"], urgent=True)  # school and Barnevernvakta: review required
    a.run("seal", "--once", "--every", "5")  # a restarted sealer continues the same log
    return a


def _witness_file(a: Audit) -> Path:
    return a.settings.state_dir / "audit" / f"{a.settings.topics.audit}.witness.jsonl"


def _witness(a: Audit) -> list[Checkpoint]:
    return [Checkpoint.from_json(line) for line in _witness_file(a).read_text().splitlines()]


def _read_dump(path: Path) -> list[Entry]:
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    return [
        Entry(
            d["offset"],
            d["ce_type"],
            base64.b64decode(d["value"]),
            tuple((k, base64.b64decode(v)) for k, v in d["headers"]),
        )
        for d in lines
    ]


def _write_dump(path: Path, entries: list[Entry]) -> None:
    lines = [
        json.dumps(
            {
                "offset": e.offset,
                "ce_type": e.ce_type,
                "value": base64.b64encode(e.value).decode(),
                "headers": [[k, base64.b64encode(v).decode()] for k, v in e.headers or ()],
            }
        )
        for e in entries
    ]
    path.write_text("\n".join(lines) + "\n")


def test_the_sealed_topic_verifies(audit: Audit) -> None:
    """Every record the pipeline wrote is sealed, by checkpoints on the topic and in the witness."""
    result = audit.run("verify")
    assert "verified" in result.stdout
    witness = _witness(audit)
    assert witness[-1].tree_size == len(audit.published)
    # every 5 records while catching up is not required; at least the two --once runs sealed
    assert len(witness) >= 2
    assert witness[1].hints_from == witness[0].tree_size


def test_sync_is_idempotent_and_the_store_verifies(audit: Audit) -> None:
    """Two syncs write the topic once; the store then verifies on its own."""

    def written(out: str) -> int:
        match = re.search(r"^(\d+) new message\(s\) written", out, re.MULTILINE)
        assert match, out
        return int(match.group(1))

    first, second = written(audit.run("sync").stdout), written(audit.run("sync").stdout)
    assert (first, second) == (len(audit.published) + len(_witness(audit)), 0)
    assert "verified" in audit.run("verify", "--from", "store").stdout


@pytest.fixture(scope="module")
def dump(audit: Audit, tmp_path_factory: pytest.TempPathFactory) -> list[Entry]:
    path = tmp_path_factory.mktemp("dump") / "audit.jsonl"
    audit.run("dump", str(path))
    entries = _read_dump(path)
    assert sum(not e.is_checkpoint for e in entries) == len(audit.published)
    return entries


def _sealing_key(audit: Audit) -> Ed25519PrivateKey:
    pem = (audit.settings.state_dir / "keys" / "audit-signing.pem").read_bytes()
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return key


def _time_byte(entries: list[Entry], index: int) -> int:
    """Where a digit of record ``index``'s recorded_at sits (editing it keeps the JSON valid)."""
    value = [e for e in entries if not e.is_checkpoint][index].value
    return value.index(b'"recorded_at":"') + len('"recorded_at":"') + 18


OTHER = Ed25519PrivateKey.generate()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("edit-byte", "edited: record #7"),
        ("delete", "missing: record #3"),
        ("swap", "reordered: record #10"),
        ("truncate", "truncated: record #13"),
        ("resign", "bad-signature: checkpoint at offset"),
        ("fork", "forked: record #2"),
    ],
)
def test_tampering_with_a_dump_of_the_topic_is_named(
    audit: Audit, dump: list[Entry], tmp_path: Path, name: str, expected: str
) -> None:
    """`broker audit verify --from DUMP` exits 1 and names the fault and the first bad record."""
    log = drill.Log(dump, _witness(audit))
    tampered = {
        "edit-byte": lambda: drill.edit_byte(log, 7, at=_time_byte(dump, 7)),
        "delete": lambda: drill.delete(log, 3),
        "swap": lambda: drill.swap(log, 10, 11),
        "truncate": lambda: drill.truncate(log, 13),
        "resign": lambda: drill.resign(log, 0, OTHER),
        "fork": lambda: drill.Log(
            drill.fork(log, 2, _sealing_key(audit), every=5).entries, log.witness
        ),
    }[name]()
    path = tmp_path / "tampered.jsonl"
    _write_dump(path, tampered.entries)
    result = audit.run("verify", "--from", str(path), check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert expected in " ".join(result.stderr.split()), result.stderr


@pytest.mark.parametrize(
    ("name", "cause"),
    [
        ("strip-checkpoints", "no-checkpoints"),
        ("append-record", "unsealed-records"),
        ("witness-missing", "witness-missing"),
        ("witness-empty", "witness-empty"),
    ],
)
def test_what_no_checkpoint_proves_fails_verify_with_its_cause(
    audit: Audit, dump: list[Entry], tmp_path: Path, name: str, cause: str
) -> None:
    """Strict verification of a dump of the real topic: exit 3 and a stable cause when records
    are not proven, though nothing contradicts them."""
    entries, witness = list(dump), str(_witness_file(audit))
    if name == "strip-checkpoints":
        entries = [e for e in dump if not e.is_checkpoint]
    elif name == "append-record":
        forged = dataclasses.replace(dump[0], offset=dump[-1].offset + 1)
        entries.append(forged)
    elif name == "witness-missing":
        witness = str(tmp_path / "nowhere.jsonl")
    else:
        (tmp_path / "empty.jsonl").write_text("")
        witness = str(tmp_path / "empty.jsonl")
    path = tmp_path / "dump.jsonl"
    _write_dump(path, entries)
    result = audit.run("verify", "--from", str(path), "--witness", witness, "--json", check=False)
    assert result.returncode == 3, result.stdout + result.stderr
    assert json.loads(result.stdout)["cause"] == cause
    if name == "append-record":
        fault = json.loads(result.stdout)["fault"]
        assert fault["index"] == len(audit.published)
        assert fault["offset"] == dump[-1].offset + 1


def test_record_id_is_named_for_an_edited_record(
    audit: Audit, dump: list[Entry], tmp_path: Path
) -> None:
    """The message names the audit record by its id, so an auditor can look it up."""
    log = drill.Log(dump, _witness(audit))
    path = tmp_path / "t.jsonl"
    _write_dump(path, drill.edit_byte(log, 4, at=_time_byte(dump, 4)).entries)
    result = audit.run("verify", "--from", str(path), check=False)
    assert audit.published[4]["record_id"] in result.stderr


def test_inclusion_and_consistency_proofs_check_offline(audit: Audit, tmp_path: Path) -> None:
    """An auditor with the exported public key alone checks both kinds of proof."""
    audit.run("sync")
    pub = tmp_path / "audit.pub.pem"
    pub.write_text(audit.run("pubkey").stdout)
    record_id = audit.published[5]["record_id"]
    bundle = tmp_path / "inclusion.json"
    bundle.write_text(audit.run("prove", "--record", record_id).stdout)
    ok = audit.run("check-proof", str(bundle), "--trust", str(pub), check=False)
    assert ok.returncode == 0, ok.stderr
    assert "valid" in ok.stdout
    data = json.loads(bundle.read_text())
    assert json.loads(base64.b64decode(data["record"]))["record_id"] == record_id
    data["record"] = base64.b64encode(
        base64.b64decode(data["record"]).replace(b'"decision"', b'"decisioN"')
    ).decode()
    bundle.write_text(json.dumps(data))
    assert audit.run("check-proof", str(bundle), "--trust", str(pub), check=False).returncode == 1

    sizes = [cp.tree_size for cp in _witness(audit)]
    consistency = tmp_path / "consistency.json"
    consistency.write_text(
        audit.run("prove", "--old", str(sizes[0]), "--new", str(sizes[-1])).stdout
    )
    ok = audit.run("check-proof", str(consistency), "--trust", str(pub), check=False)
    assert ok.returncode == 0, ok.stderr
    assert "is a prefix of" in " ".join(ok.stdout.split())


def test_subject_report_lists_every_disclosure_about_the_person(audit: Audit) -> None:
    """The JSON report holds exactly the deliveries whose subject is this child, with fields."""
    audit.run("sync")
    nid = NATIONAL_ID_OF["robbery"]
    ref = refs.subject_ref(audit.settings.subject_key(), nid)
    expected = sorted(
        (r["recipient"], tuple(r["fields_kept"]), r["legal_basis"]["id"])
        for r in audit.published
        if r.get("subject_ref") == ref and r.get("outcome") == "deliver"
    )
    assert expected, "the example child should have disclosures"
    report = json.loads(audit.run("subject", "--national-id", nid, "--format", "json").stdout)
    got = sorted(
        (d["recipient"], tuple(d["fields"]), d["legal_basis"]) for d in report["disclosures"]
    )
    assert got == expected
    assert nid not in json.dumps(report)
    markdown = audit.run("subject", "--national-id", nid).stdout
    assert markdown.startswith("# Utleveringer om deg")  # bokmål unless told otherwise
    assert nid not in markdown
    english = audit.run("subject", "--national-id", nid, "--lang", "en").stdout
    assert english.startswith("# Disclosures about you")


def test_subject_report_refuses_an_invalid_national_id(audit: Audit) -> None:
    """A mistyped number is refused with the reason, not answered with an empty report."""
    nid = NATIONAL_ID_OF["robbery"]
    bad = nid[:-1] + str((int(nid[-1]) + 1) % 10)
    result = audit.run("subject", "--national-id", bad, check=False)
    assert result.returncode == 2
    assert "--national-id" in result.stderr
    assert bad not in result.stderr


def test_query_filters_by_recipient_and_decision(audit: Audit) -> None:
    """`query --json` returns exactly the records that match, in log order."""
    audit.run("sync")
    lines = audit.run("query", "--recipient", "school", "--decision", "deliver", "--json").stdout
    got = [json.loads(x)["record_id"] for x in lines.splitlines()]
    expected = [
        r["record_id"]
        for r in audit.published
        if r.get("recipient") == "school" and r.get("outcome") == "deliver"
    ]
    assert got == expected


def test_a_review_is_published_as_an_audit_event_and_clears_the_list(audit: Audit) -> None:
    """Urgent disclosures are listed until reviewed; the review itself enters the sealed log."""
    audit.run("sync")
    urgent = [r["record_id"] for r in audit.published if r.get("review_required")]
    assert urgent, "the urgent robbery notice should need review"
    listed = audit.run("review").stdout
    assert all(rid in listed for rid in urgent)
    audit.run("review", "--record", urgent[0], "--reviewer", "Kari Revisor", "--note", "justified")
    audit.run("seal", "--once", "--every", "5")
    audit.run("sync")
    after = audit.run("review").stdout
    assert urgent[0] not in after
    assert urgent[-1] in after
    assert "verified" in audit.run("verify").stdout


def test_the_long_running_sealer_seals_on_time(audit: Audit, policy: PolicySet) -> None:
    """`broker audit seal --interval 1` seals new records within seconds, then stops on SIGTERM."""
    process = subprocess.Popen(
        [sys.executable, "-m", "broker", "audit", "seal", "--interval", "1", "--every", "1000"],
        env=audit.env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        before, sent = _witness(audit)[-1].tree_size, len(audit.published)
        audit.publish(policy, ["threat"])
        deadline = time.monotonic() + 30
        while _witness(audit)[-1].tree_size < before + len(audit.published) - sent:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "no checkpoint within 30 s"
            time.sleep(0.3)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert process.returncode == 0
    assert "verified" in audit.run("verify").stdout


def test_sync_and_verify_stop_loudly_at_a_forged_checkpoint_on_the_topic(
    kafka: str, tmp_path: Path, policy: PolicySet
) -> None:
    """Someone publishes a checkpoint signed with another key: sync writes nothing after it and
    exits 1 naming it; verify from the topic says the same."""
    a = _fresh_audit(kafka, tmp_path)
    settings = a.settings
    a.publish(policy, ["threat"])
    a.run("seal", "--once")
    forged_offset = len(a.published) + 1  # after the records and the genuine checkpoint
    genuine = _witness(a)[-1]
    forged = drill.resign(drill.Log([Entry(0, CHECKPOINT_TYPE, genuine.to_json())], []), 0, OTHER)

    async def send() -> None:
        async with producer(kafka) as p:
            headers = ce_headers_audit(CHECKPOINT_TYPE, "forged", datetime.now(UTC))
            await send_all(
                p, [OutMessage(settings.topics.audit, None, forged.entries[0].value, headers)]
            )

    asyncio.run(send())
    a.publish(policy, ["robbery"])
    result = a.run("sync", check=False)
    assert result.returncode == 1
    stderr = " ".join(result.stderr.split())
    assert f"bad-signature: checkpoint at offset {forged_offset}" in stderr
    with AuditStore.open(tmp_path / "audit" / "audit.sqlite") as st:
        assert st.next_offset() == forged_offset  # nothing from the forgery on
    verify = a.run("verify", check=False)
    assert verify.returncode == 1
    assert "bad-signature" in verify.stderr


def test_receipts_are_relayed_into_the_log_and_late_deliveries_flagged(
    audit: Audit,
) -> None:
    """A school's system reports received and opened; the relay puts both in the sealed log;
    `access` shows the path under that school and flags every other delivery as not received in
    time. skole-9003 reporting skole-9002's delivery id on its own receipts topic marks nothing:
    the access log joins on the organisation."""
    audit.run("relay-receipts", "--idle-timeout", "1")  # creates the receipts topics
    delivered = [
        r for r in audit.published if r.get("recipient") == "school" and r.get("delivery_id")
    ]
    theirs = next(str(r["delivery_id"]) for r in delivered if r["organisation"] == "skole-9002")
    own = next(str(r["delivery_id"]) for r in delivered if r["organisation"] == "skole-9003")
    for delivery_id in (theirs, own):
        for state in ("received", "opened"):
            audit.run("receipt", delivery_id, "--organisation", "skole-9003", "--state", state)
    audit.run("relay-receipts", "--idle-timeout", "2")
    audit.run("seal", "--once")
    audit.run("sync")
    result = audit.run(
        "access", "--recipient", "school", "--within", "0", "--fail-overdue", check=False
    )
    assert result.returncode == 1
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if "│" in line}
    assert "opened" in rows[own[:16]]
    assert "skole-9003" in rows[own[:16]]
    assert "skole-9002" in rows[theirs[:16]]
    late = [d for d in delivered if "not received" in rows[str(d["delivery_id"])[:16]]]
    assert {str(d["delivery_id"]) for d in late} == {str(d["delivery_id"]) for d in delivered} - {
        own
    }
    mine = audit.run("access", "--organisation", "skole-9003").stdout
    shown = [line.split("│")[3].strip() for line in mine.splitlines() if line.startswith("│")]
    assert set(shown) == {"skole-9003"}
    with AuditStore.open(audit.settings.state_dir / "audit" / "audit.sqlite") as st:
        by_id = {a.delivery_id: a for a in st.access_log()}
        relayed = st.query(Filters(organisation="skole-9003", decision="received"))
    assert (by_id[theirs].received_at, by_id[theirs].opened_at) == (None, None)
    assert by_id[own].opened_at is not None
    assert {(d["recipient"], d["delivery_id"]) for d in relayed} == {
        ("school", theirs),
        ("school", own),
    }
    assert "verified" in audit.run("verify").stdout


def _fresh_audit(kafka: str, state: Path) -> Audit:
    """An audit topic of its own (topics, ACLs and every writer's key), nothing on it yet."""
    prefix = f"it-audit-{uuid.uuid4().hex[:8]}."
    settings = dataclasses.replace(
        Settings.from_env(),
        bootstrap=kafka,
        topic_prefix=prefix,
        state_dir=state,
        app_id=f"{prefix}oslo-share-broker",
    )
    create_topics(settings)
    env = {**os.environ, "BROKER_TOPIC_PREFIX": prefix, "BROKER_BOOTSTRAP": kafka}
    env |= {"BROKER_STATE_DIR": str(state), "COLUMNS": "200"}
    for name in ("BROKER_AUDIT_STORE", "BROKER_AUDIT_WITNESS", "BROKER_AUDIT_KEY_FILE"):
        env.pop(name, None)
    return Audit(settings, env, [])


def test_a_deliver_decision_forged_as_the_reviewer_is_sealed_but_unattributed(
    kafka: str, tmp_path: Path, policy: PolicySet
) -> None:
    """The finding of issue 10: the reviewer principal, which may write the audit topic, writes
    a "deliver" decision (signed with the reviewer's own key, as an insider holding it could);
    the sealer seals it. `verify` exits 1 naming that record and only it: the worker's
    decisions, a review by the reviewer and a receipt relayed by the relay are attributed.
    `sync` writes nothing from the forgery on, so the auditor page never counts it."""
    a = _fresh_audit(kafka, tmp_path)
    a.publish(policy, ["robbery"], urgent=True)
    a.run("seal", "--once", "--every", "1")
    a.run("sync")
    urgent = next(r for r in a.published if r.get("review_required"))
    a.run("review", "--record", urgent["record_id"], "--reviewer", "reviewer-1", "--note", "ok")
    a.run("relay-receipts", "--idle-timeout", "1")  # creates the receipts topics
    delivered = next(
        r for r in a.published if r.get("recipient") == "school" and r.get("outcome") == "deliver"
    )
    a.run(
        "receipt", str(delivered["delivery_id"]), "--organisation", str(delivered["organisation"])
    )
    a.run("relay-receipts", "--idle-timeout", "2")
    a.run("seal", "--once", "--every", "1")
    honest = a.run("verify")
    assert "attributed: an entitled writer signed every message" in honest.stdout
    assert re.search(r"unattributed messages\s*│\s*0\s*│", honest.stdout), honest.stdout
    assert "not sealed yet" not in honest.stdout  # the review and the receipt are sealed too
    sealed = rf"sealed records\s*│\s*{len(a.published) + 2}\s*│"  # decisions, review, receipt
    assert re.search(sealed, honest.stdout), honest.stdout

    # the forgery: a genuine deliver decision's fields with a new id, as the reviewer
    forged = {**delivered, "record_id": uuid.uuid4().hex, "recorded_at": delivered["recorded_at"]}
    value = json.dumps(forged, separators=(",", ":")).encode()
    now = datetime.now(UTC)
    headers = writers.sign(
        ce_headers_audit(RECORD_TYPE, forged["record_id"], now),
        value,
        a.writer_key(writers.REVIEWER),
    )

    async def send() -> int:
        async with producer(kafka, principal=Principals().reviewer) as p:
            sent = await p.send_and_wait(a.settings.topics.audit, value, headers=list(headers))
            return int(sent.offset)

    offset = asyncio.run(send())
    a.run(
        "seal", "--once", "--every", "1"
    )  # the sealer seals what the topic holds, the forgery too
    witness = _witness(a)
    assert witness[-1].tree_size > witness[-2].tree_size  # the forgery is sealed

    result = a.run("verify", check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    stderr = " ".join(result.stderr.split())
    assert f"offset {offset}, record_id {forged['record_id']}" in stderr
    assert "signed with key" in stderr
    assert "of the reviewer, but only the worker writes decision records" in stderr
    assert stderr.count("unattributed:") == 1  # the review and the receipt are attributed
    assert "edited" not in stderr  # the Merkle tree itself is intact

    synced = a.run("sync", check=False)
    assert synced.returncode == 1
    assert f"offset {offset}, record_id {forged['record_id']}" in " ".join(synced.stderr.split())
    with AuditStore.open(tmp_path / "audit" / "audit.sqlite") as st:
        assert st.next_offset() == offset  # the forgery and everything after it: not written
        assert st.record(forged["record_id"]) is None
