"""The commands refuse bad input before touching Kafka, naming the file, field and reason."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from broker.adapters.examples import EXAMPLES
from tests.conftest import ROOT, run_broker

_broker = run_broker


def test_worker_refuses_to_start_on_a_bad_policy_file(tmp_path: Path) -> None:
    """A broken rules file stops the worker before it connects, naming the file and problem."""
    policies = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policies)
    rules = policies / "rules.yaml"
    rules.write_text(rules.read_text().replace("legal_basis: prf-10-2", "legal_basis: nope", 1))
    result = _broker(
        "worker", env={"BROKER_POLICY_DIR": str(policies), "BROKER_BOOTSTRAP": "127.0.0.1:1"}
    )
    assert result.returncode != 0
    assert "rules.yaml" in result.stderr
    assert "unknown legal basis 'nope'" in result.stderr


def test_policy_check_passes_on_shipped_policies() -> None:
    """`broker policy check` accepts the shipped set and prints its version."""
    result = _broker("policy", "check")
    assert result.returncode == 0, result.stderr
    assert "version sha256:" in result.stdout


def test_publish_refuses_an_invalid_notice(tmp_path: Path) -> None:
    """`broker publish` validates first: nothing is sent, the field and reason are named."""
    doc = json.loads((EXAMPLES / "03-robbery-victim.json").read_text())
    doc["child"]["birth_date"] = "not a date"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    result = _broker(
        "publish",
        str(bad),
        env={"BROKER_BOOTSTRAP": "127.0.0.1:1", "BROKER_STATE_DIR": str(tmp_path)},
    )
    assert result.returncode == 1
    assert "child.birth_date" in result.stdout
    assert "invalid, not sent" in result.stdout
    assert doc["child"]["national_id"] not in result.stdout + result.stderr


def test_subscribe_rejects_an_unknown_organisation() -> None:
    """An organisation the directory does not list is named; a role given instead of an
    organisation is answered with the organisations that fill it."""
    result = _broker("subscribe", "newspaper", env={"BROKER_BOOTSTRAP": "127.0.0.1:1"})
    assert result.returncode == 2
    assert "organisation: 'newspaper' is not in the directory" in result.stderr
    role = _broker("subscribe", "child-welfare", env={"BROKER_BOOTSTRAP": "127.0.0.1:1"})
    assert role.returncode == 2
    assert "'child-welfare' is a recipient role" in role.stderr
    assert "bydel-alna-barnevern" in role.stderr


def test_publish_names_each_file_too_large_or_ambiguous(tmp_path: Path) -> None:
    """A 5 MB file and a file with a key twice: each gets its own line with the reason, no
    traceback, and nothing is sent."""
    big = tmp_path / "big.json"
    big.write_bytes(b'{"pad": "' + b"x" * 5_000_000 + b'"}')
    twice = tmp_path / "twice.json"
    text = (EXAMPLES / "03-robbery-victim.json").read_text()
    twice.write_text(text.replace('"notice_type":', '"notice_type": "risk", "notice_type":', 1))
    result = _broker(
        "publish",
        str(big),
        str(twice),
        env={
            "BROKER_BOOTSTRAP": "127.0.0.1:1",
            "BROKER_STATE_DIR": str(tmp_path),
            "COLUMNS": "500",
        },
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert "larger than a notice may be" in result.stdout
    assert "json-duplicate-key" in result.stdout
    assert result.stdout.count("invalid, not sent") == 2
