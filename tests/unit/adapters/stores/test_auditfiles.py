"""The witness file and dumps of the audit topic: what is written reads back the same, and a
line that does not parse is a LineError naming the file and the line."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.adapters.settings import Settings
from broker.adapters.stores import auditfiles
from broker.adapters.stores.auditfiles import LineError
from broker.core.audit import Entry
from broker.testing import audit as drill

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(4, 36)))


@pytest.fixture(scope="module")
def log() -> drill.Log:
    return drill.build(12, KEY, every=5)


def test_appended_checkpoints_read_back_in_order(tmp_path: Path, log: drill.Log) -> None:
    """The sealer appends (creating the folder); the readers see the same checkpoints."""
    path = tmp_path / "audit" / "w.jsonl"
    for cp in log.witness:
        auditfiles.append_witness(path, cp)
    assert auditfiles.read_witness(path) == log.witness
    assert list(auditfiles.iter_witness(path)) == log.witness


def test_no_witness_file_is_no_checkpoints(tmp_path: Path) -> None:
    assert auditfiles.read_witness(None) == []
    assert auditfiles.read_witness(tmp_path / "missing.jsonl") == []


@pytest.mark.parametrize("read", [auditfiles.read_witness, auditfiles.iter_witness])
def test_a_witness_line_that_does_not_parse_names_the_file_and_line(
    tmp_path: Path, log: drill.Log, read: object
) -> None:
    path = tmp_path / "w.jsonl"
    path.write_text(log.witness[0].to_json().decode() + "\n\nnot json\n")
    with pytest.raises(LineError, match=rf"^{path}:3: checkpoint: not JSON$"):
        list(read(path))  # type: ignore[operator]


def test_a_dump_line_holds_the_value_and_headers_in_base64() -> None:
    """Values and header values are bytes: base64, so any byte survives the JSON line."""
    entry = Entry(3, "t", b"\x00\xffv", (("ce_keyid", b"k1"), ("ce_signature", b"\x00\xff")))
    fh = io.StringIO()
    assert auditfiles.write_dump(fh, [entry, entry]) == 2
    line = json.loads(fh.getvalue().splitlines()[0])
    assert line == {
        "offset": 3,
        "ce_type": "t",
        "value": "AP92",
        "headers": [["ce_keyid", "azE="], ["ce_signature", "AP8="]],
    }


def test_a_dump_file_round_trips(tmp_path: Path, log: drill.Log) -> None:
    path = tmp_path / "dump.jsonl"
    entries = [Entry(e.offset, e.ce_type, e.value, ()) for e in log.entries]
    with path.open("w", encoding="utf-8") as fh:
        auditfiles.write_dump(fh, entries)
    assert list(auditfiles.read_dump(path)) == entries


def test_a_dump_from_before_writers_signed_has_no_headers(tmp_path: Path) -> None:
    """Such a source kept no headers: None, not an empty tuple (nobody signed, not unknown)."""
    path = tmp_path / "old.jsonl"
    path.write_text(json.dumps({"offset": 7, "ce_type": "t", "value": "AAE="}) + "\n")
    assert list(auditfiles.read_dump(path)) == [Entry(7, "t", b"\x00\x01", None)]


def test_a_dump_line_that_does_not_parse_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"offset": 0, "ce_type": "t", "value": ""}) + "\n{}\n")
    reader = auditfiles.read_dump(path)
    assert next(reader) == Entry(0, "t", b"", None)
    with pytest.raises(LineError, match=rf"^{path}:2: not a dump line"):
        next(reader)


def test_the_files_are_named_per_audit_topic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One witness file and one origin per audit log, so two deployments never mix them; the
    environment overrides each file's place."""
    for name in ("BROKER_AUDIT_STORE", "BROKER_AUDIT_WITNESS", "BROKER_AUDIT_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    s = Settings(state_dir=tmp_path, topic_prefix="a.")
    assert auditfiles.origin_of(s) == f"oslo-share-broker/{s.topics.audit}"
    assert auditfiles.witness_path(s) == tmp_path / "audit" / f"{s.topics.audit}.witness.jsonl"
    assert auditfiles.signing_key_path(s) == tmp_path / "keys" / "audit-signing.pem"
    assert auditfiles.store_target(s) == str(tmp_path / "audit" / "audit.sqlite")
    monkeypatch.setenv("BROKER_AUDIT_WITNESS", str(tmp_path / "elsewhere.jsonl"))
    monkeypatch.setenv("BROKER_AUDIT_KEY_FILE", str(tmp_path / "k.pem"))
    monkeypatch.setenv("BROKER_AUDIT_STORE", "postgresql://auditor@db/audit")
    monkeypatch.setenv("BROKER_STATE_DIR", str(tmp_path))
    s = Settings.from_env()
    assert auditfiles.witness_path(s) == tmp_path / "elsewhere.jsonl"
    assert auditfiles.signing_key_path(s) == tmp_path / "k.pem"
    assert auditfiles.store_target(s) == "postgresql://auditor@db/audit"
    assert auditfiles.origin_of(s) != auditfiles.origin_of(
        Settings(state_dir=tmp_path, topic_prefix="b.")
    )
