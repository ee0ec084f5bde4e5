"""`broker audit obligations`, `inform` and `letter` on a store holding the worker's records for
one notice: the duty to inform listed open, closed by an informed event, refusals naming the
option, and the letter written from the record and the notice."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner, Result

from broker.adapters.stores.auditor import AuditStore
from broker.cli.audit import app
from broker.core.audit.inform import informed_event
from broker.core.policy import PolicySet
from broker.core.records import AuditRecord
from broker.testing import audit as drill
from broker.testing.fakes import ReadyPipeline

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setenv("BROKER_BOOTSTRAP", "127.0.0.1:1")  # nothing may reach a broker


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def _store(path: Path, values: list[bytes]) -> str:
    with AuditStore.open(path) as st:
        st.add(drill.seal_all(values, KEY, every=50).entries)
    return str(path)


@pytest.fixture
def decided(
    ready: ReadyPipeline, notice: Callable[..., dict[str, Any]]
) -> tuple[dict[str, Any], list[bytes], dict[str, AuditRecord]]:
    doc = notice("threat")
    values = [m.value for m in ready.process(doc).audit_records]
    records = [AuditRecord.model_validate_json(v) for v in values]
    return doc, values, {str(r.recipient): r for r in records}


def test_obligations_lists_the_open_duties_and_an_informed_event_closes_one(
    tmp_path: Path, policy: PolicySet, decided: Any
) -> None:
    _, values, by = decided
    school = by["school"]
    store = _store(tmp_path / "a.sqlite", values)
    now = (school.recorded_at + timedelta(days=1)).isoformat()
    listed = _invoke("obligations", "--store", store, "--now", now)
    assert listed.exit_code == 0, listed.stderr
    rows = [line for line in listed.stdout.splitlines() if school.record_id[:16] in line]
    assert len(rows) == 1
    assert "inform-data-subject" in rows[0]
    assert "åpen (open)" in rows[0]  # bokmål by default, the code beside the word
    assert "skole-9002" in rows[0]
    english = _invoke("obligations", "--store", store, "--now", now, "--lang", "en")
    (row,) = [line for line in english.stdout.splitlines() if school.record_id[:16] in line]
    assert "open" in row
    assert "åpen" not in row
    assert "5 obligations as of" in english.stdout
    duty = next(d for d in policy.duties if d.id == "inform-data-subject")
    at = school.recorded_at + timedelta(hours=2)
    _, event = informed_event(
        school.record_id,
        duty,
        persons=["child", "guardians"],
        how="letter",
        informed_at=at,
        when=at,
    )
    store = _store(tmp_path / "b.sqlite", [*values, event])
    after = _invoke("obligations", "--store", store, "--now", now, "--all")
    (row,) = [line for line in after.stdout.splitlines() if school.record_id[:16] in line]
    assert "lukket (closed)" in row
    still_open = _invoke("obligations", "--store", store, "--now", now)
    assert school.record_id[:16] not in still_open.stdout
    # another school received nothing about this pupil, so owes nothing
    other = _invoke("obligations", "--store", store, "--now", now, "--organisation", "skole-9001")
    assert "0 plikter per " in other.stdout


def test_overdue_lists_only_what_is_past_its_date(tmp_path: Path, decided: Any) -> None:
    """Eight days after a police report to child welfare, its review (7 days) is overdue."""
    _, values, by = decided
    store = _store(tmp_path / "a.sqlite", values)
    later = (by["child-welfare"].recorded_at + timedelta(days=8)).isoformat()
    overdue = _invoke("obligations", "--store", store, "--now", later, "--overdue")
    assert overdue.exit_code == 0, overdue.stderr
    assert "concern-review" in overdue.stdout
    assert "inform-data-subject" not in overdue.stdout
    assert "1 plikt per " in overdue.stdout


def test_inform_refuses_a_record_that_opened_no_duty_and_bad_options(
    tmp_path: Path, decided: Any
) -> None:
    """Each refusal names the option and exits 2, before any key is needed or sent."""
    _, values, by = decided
    store = _store(tmp_path / "a.sqlite", values)
    deny = _invoke("inform", "--store", store, "--record", by["police"].record_id,
                   "--exception", "already-informed")  # fmt: skip
    assert deny.exit_code == 2
    assert "opened no duty to inform" in deny.stderr
    school = by["school"].record_id
    code = _invoke("inform", "--store", store, "--record", school, "--exception", "busy")
    assert code.exit_code == 2
    assert "--exception: 'busy' is not an exception of inform-data-subject" in code.stderr
    who = _invoke("inform", "--store", store, "--record", school, "--informed", "neighbour",
                  "--how", "letter", "--at", "2026-01-01")  # fmt: skip
    assert who.exit_code == 2
    assert "--informed: 'neighbour'" in who.stderr
    both = _invoke("inform", "--store", store, "--record", school)
    assert both.exit_code == 2
    assert "either --informed" in both.stderr
    missing = _invoke("inform", "--store", store, "--record", "nope", "--exception", "x")
    assert missing.exit_code == 2
    assert "no audit record nope" in missing.stderr
    for r in (deny, code, who, both, missing):
        assert "Traceback" not in r.stderr + r.stdout


def test_letter_is_written_from_the_record_and_the_notice(tmp_path: Path, decided: Any) -> None:
    doc, values, by = decided
    store = _store(tmp_path / "a.sqlite", values)
    notice_file = tmp_path / "notice.json"
    notice_file.write_text(json.dumps(doc), encoding="utf-8")
    out = tmp_path / "brev.md"
    made = _invoke("letter", "--store", store, "--record", by["school"].record_id,
                   "--notice", str(notice_file), "--out", str(out))  # fmt: skip
    assert made.exit_code == 0, made.stderr
    text = out.read_text(encoding="utf-8")
    assert doc["child"]["name"] in text
    assert doc["guardians"][0]["name"] in text
    assert "Vestre Lindeløkka skole" in text  # skole-9002's name in the directory
    assert doc["child"]["national_id"] not in text
    denied = _invoke("letter", "--store", store, "--record", by["police"].record_id,
                     "--notice", str(notice_file))  # fmt: skip
    assert denied.exit_code == 2
    assert "is not a delivery" in denied.stderr
    absent = _invoke("letter", "--store", store, "--record", by["school"].record_id,
                     "--notice", str(tmp_path / "none.json"))  # fmt: skip
    assert absent.exit_code == 2
    assert "--notice: no such file" in absent.stderr


def test_now_must_be_a_date_or_a_time_with_a_zone(tmp_path: Path, decided: Any) -> None:
    store = _store(tmp_path / "a.sqlite", decided[1])
    for bad in ("tomorrow", "2026-12-01T09:00"):
        r = _invoke("obligations", "--store", store, "--now", bad)
        assert r.exit_code == 2
        assert "--now:" in r.stderr
    assert isinstance(datetime.now(), datetime)
