"""`broker policy …`: check with lint, explain, test, report and simulate, as lawyers run them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from broker.adapters.examples import EXAMPLES
from tests.conftest import ROOT


def _broker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "broker", "policy", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "250"},
        check=False,
        timeout=120,
    )


def test_check_lints_the_shipped_policies() -> None:
    """`check` validates, then lists lint findings: the shipped set has notes, no warnings."""
    result = _broker("check", "--samples", "300")
    assert result.returncode == 0, result.stderr
    assert "basis-uncited" in result.stdout
    assert "0 warning(s)" in result.stdout


def test_test_runs_every_case_and_reports_coverage() -> None:
    """`test` passes on the shipped cases and names no untested rule."""
    result = _broker("test")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 failed, 0 errors; rules without a deciding case: none" in result.stdout


def test_explain_names_rule_basis_and_each_field() -> None:
    """`explain` shows, per field, kept/withheld/transformed, the rule and the legal basis."""
    result = _broker("explain", str(EXAMPLES / "02-threat-against-school-staff.json"), "salto")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "deliver by rule risk-salto-cooperation" in out
    assert "consent-missing" in out
    assert "transformed: pseudonymise" in out
    assert "child.national_id" in out
    assert "withheld" in out
    assert "Politiregisterloven" in out


def test_report_writes_markdown_and_html(tmp_path: Path) -> None:
    """`report --out DIR` writes both documents."""
    result = _broker("report", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    # in bokmål by default, the policy's own texts too
    assert "## SaLTo-koordinator (salto)" in (tmp_path / "policy-report.md").read_text()
    assert "<h2>SaLTo-koordinator (salto)</h2>" in (tmp_path / "policy-report.html").read_text()


def test_simulate_shows_what_a_proposal_discloses_more(tmp_path: Path) -> None:
    """Simulating the examples against a proposal that gives SaLTo birth years shows
    +child.birth_date."""
    proposed = tmp_path / "proposed"
    shutil.copytree(ROOT / "policies", proposed)
    rules = proposed / "rules.yaml"
    rules.write_text(
        rules.read_text().replace(
            "      notice_id: pseudonymise\n",
            "      notice_id: pseudonymise\n      child.birth_date: generalise:birth-year\n",
            1,
        )
    )
    examples = [str(p) for p in sorted(EXAMPLES.glob("*.json"))]
    result = _broker("simulate", str(proposed), *examples, "--processes", "1")
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if "child.birth_date" in line)
    assert "salto" in row
    assert "+2" in row  # the two examples SaLTo receives


def test_simulate_names_an_invalid_notice() -> None:
    """An invalid input file stops the simulation naming the file, field and reason."""
    bad = EXAMPLES / "invalid" / "bad-national-id-checksum.json"
    result = _broker("simulate", str(ROOT / "policies"), str(bad))
    assert result.returncode == 2
    assert "bad-national-id-checksum.json" in result.stderr
    assert "child.national_id" in result.stderr
    assert "check digits" in result.stderr


def test_simulate_generated_notices_without_changes() -> None:
    """The same policy as current and proposed: nothing disclosed more or less."""
    result = _broker("simulate", str(ROOT / "policies"), "--generate", "3000")
    assert result.returncode == 0, result.stderr
    assert "3000 notices" in result.stdout
    assert "no field would be disclosed more or less" in result.stdout
