"""`broker audit verify --from DUMP`: the exit code and the cause a script reads, per tamper."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner, Result

from broker.adapters.settings import Settings
from broker.adapters.stores.auditfiles import origin_of
from broker.cli.audit import app
from broker.core.audit import Entry, public_pem
from broker.core.audit.events import RECORD_TYPE
from broker.testing import audit as drill
from tests.conftest import ROOT

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(2, 34)))
OTHER = Ed25519PrivateKey.from_private_bytes(bytes(range(3, 35)))
N = 25
BROKER = (sys.executable, "-m", "broker")


@pytest.fixture(scope="module")
def log() -> drill.Log:
    origin = origin_of(Settings.from_env())
    return drill.seal_all([drill.record_value(i) for i in range(N)], KEY, 10, origin)


def _write(tmp: Path, log: drill.Log, witness: list[str] | None = None) -> tuple[Path, Path]:
    dump, wfile = tmp / "audit.jsonl", tmp / "witness.jsonl"
    dump.write_text(
        "".join(
            json.dumps(
                {
                    "offset": e.offset,
                    "ce_type": e.ce_type,
                    "value": base64.b64encode(e.value).decode(),
                }
            )
            + "\n"
            for e in log.entries
        )
    )
    lines = [cp.to_json().decode() for cp in log.witness] if witness is None else witness
    wfile.write_text("".join(line + "\n" for line in lines))
    (tmp / "pub.pem").write_bytes(public_pem(KEY.public_key()))
    return dump, wfile


def _verify(tmp: Path, dump: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real command in a process of its own: the exit status a script sees."""
    return subprocess.run(
        # the drills' records are unsigned: who wrote them is tests/unit/test_audit_writers.py's
        [
            *BROKER,
            "audit",
            "verify",
            "--from",
            str(dump),
            "--trust",
            str(tmp / "pub.pem"),
            "--no-writers",
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200", "BROKER_STATE_DIR": str(tmp / "state")},
        check=False,
        timeout=60,
    )


def _invoke(tmp: Path, dump: Path, *args: str) -> Result:
    """The same command in this process (quicker): exit code, stdout and stderr."""
    os.environ["BROKER_STATE_DIR"] = str(tmp / "state")  # restored by the autouse fixture
    return CliRunner().invoke(
        app, ["verify", "--from", str(dump), "--trust", str(tmp / "pub.pem"), "--no-writers", *args]
    )


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("BROKER_STATE_DIR", "")


def _json(tmp: Path, dump: Path, wfile: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = _invoke(tmp, dump, "--witness", str(wfile), "--json", *args)
    return result.exit_code, json.loads(result.stdout)


def test_a_sealed_dump_verifies_and_says_what_was_verified(log: drill.Log, tmp_path: Path) -> None:
    """Exit 0; the output names the records, the checkpoint (size, root, time), key, witness."""
    dump, wfile = _write(tmp_path, log)
    result = _verify(tmp_path, dump, "--witness", str(wfile))
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    last = log.witness[-1]
    assert f"records #0–#{N - 1}" in text
    assert f"through offset {log.entries[-2].offset}" in text
    assert f"checkpoint {N} (root {last.root_hash}, {last.time})" in text
    assert last.key_id in text
    assert str(wfile) in text
    code, data = _json(tmp_path, dump, wfile)
    assert (code, data["ok"], data["cause"], data["sealed"]) == (0, True, None, N)
    assert data["key_ids"] == [last.key_id]
    assert data["witness"] == {"file": str(wfile), "copies": len(log.witness)}


def _trailing(log: drill.Log) -> drill.Log:
    forged = Entry(log.entries[-1].offset + 1, RECORD_TYPE, drill.record_value(99))
    return drill.Log([*log.entries, forged], log.witness)


TAMPERS: list[tuple[str, Callable[[drill.Log], drill.Log], int, str, str]] = [
    ("stripped", lambda g: drill.Log(drill.records(g), g.witness), 3, "no-checkpoints", ""),
    ("trailing", _trailing, 3, "unsealed-records", f"record #{N}"),
    ("edited", lambda g: drill.edit_byte(g, 7), 1, "edited", "record #7"),
    ("deleted", lambda g: drill.delete(g, 3), 1, "missing", "record #3"),
    ("swapped", lambda g: drill.swap(g, 12, 13), 1, "reordered", "record #12"),
    ("truncated", lambda g: drill.truncate(g, 15), 1, "truncated", "record #15"),
    ("forged-checkpoint", lambda g: drill.resign(g, 1, OTHER), 1, "bad-signature", "checkpoint"),
]


@pytest.mark.parametrize(("name", "tamper", "code", "cause", "where"), TAMPERS)
def test_each_tamper_exits_non_zero_naming_cause_and_record(
    log: drill.Log,
    tmp_path: Path,
    name: str,
    tamper: Callable[[drill.Log], drill.Log],
    code: int,
    cause: str,
    where: str,
) -> None:
    """Exit 1 if the log contradicts a checkpoint, 3 if nothing proves it; the cause is a stable
    code in the text and in --json."""
    dump, wfile = _write(tmp_path, tamper(log))
    result = _invoke(tmp_path, dump, "--witness", str(wfile))
    assert result.exit_code == code, result.stdout + result.stderr
    text = " ".join(result.stderr.split())
    assert f"(cause: {cause})" in text
    assert f"{cause}: {where}" in text
    got, data = _json(tmp_path, dump, wfile)
    assert (got, data["ok"], data["cause"]) == (code, False, cause)
    assert where in data["fault"]["where"]


def test_an_unsealed_tail_passes_only_when_allowed(log: drill.Log, tmp_path: Path) -> None:
    """--allow-unsealed exits 0 and says how many records are not verified."""
    dump, wfile = _write(tmp_path, _trailing(log))
    result = _invoke(tmp_path, dump, "--witness", str(wfile), "--allow-unsealed")
    assert result.exit_code == 0, result.stderr
    assert "1 record(s) after the last checkpoint are not verified" in " ".join(
        result.stdout.split()
    )


def test_a_missing_or_empty_witness_fails(log: drill.Log, tmp_path: Path) -> None:
    """A witness file that does not exist, or holds nothing, is not an empty witness that
    agrees: exit 3, witness-missing / witness-empty; --no-witness is the explicit opt-out."""
    dump, wfile = _write(tmp_path, log, witness=[])
    code, data = _json(tmp_path, dump, wfile)
    assert (code, data["cause"]) == (3, "witness-empty")
    code, data = _json(tmp_path, dump, tmp_path / "no-such-witness.jsonl")
    assert (code, data["cause"]) == (3, "witness-missing")
    result = _verify(tmp_path, dump, "--witness", str(tmp_path / "no-such-witness.jsonl"))
    assert result.returncode == 3
    assert "witness-missing" in result.stderr
    assert _invoke(tmp_path, dump, "--no-witness").exit_code == 0
