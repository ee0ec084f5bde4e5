"""`python -m broker.adapters.kafka.tls init`: what kafka.sh runs to make the credentials."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from broker.adapters.kafka.tls.__main__ import main
from broker.adapters.kafka.tls.credentials import WEB_SERVER, Credentials, ca_key_file
from broker.adapters.policy_files import load_policy
from broker.core.deployment.acl import Principals
from broker.core.directory import DIRECTORY_FILE
from broker.core.directory_edit import retired
from broker.testing.directories import TWO_SCHOOLS_TWO_DISTRICTS, policy_dir_with
from tests.conftest import ROOT

POLICIES = ROOT / "policies"


def test_init_creates_every_principals_certificate_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The node, the broker's clients, one for each organisation of the directory, the extra
    principals and the page's certificate; a second run creates nothing and says nothing."""
    d = tmp_path / "creds"
    args = ["init", str(d), "--policy-dir", str(POLICIES), "--principal", "auditor.kari"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.startswith("kafka_security: created ca, kafka-node, admin, broker, ")
    # ca, node, 10 of the broker's clients, 59 organisations, auditor.kari, the page
    assert out.rstrip().endswith(f" and 67 more in {d}")
    assert ca_key_file(d).is_file()
    organisations = ["recipient.skole-9002", "recipient.bydel-alna-barnevern"]
    for name in ["kafka-node", "auditor.kari", WEB_SERVER, Principals().sealer, *organisations]:
        assert Credentials(d, name).cert.is_file(), name
    assert main(args) == 0
    assert capsys.readouterr().out == ""


def test_init_reports_a_broken_directory_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A CA certificate without its key: exit 2, the missing file named."""
    (tmp_path / "ca.crt").write_text("not a certificate\n", encoding="utf-8")
    assert main(["init", str(tmp_path), "--policy-dir", str(POLICIES)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kafka_security: ")
    assert "ca/ca.key is missing" in err


def test_the_module_runs_as_a_script(tmp_path: Path) -> None:
    """kafka.sh runs it with `python -m`; the package's __main__ is that entry point."""
    result = subprocess.run(
        [sys.executable, "-m", "broker.adapters.kafka.tls", "--help"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert "python -m broker.adapters.kafka.tls" in result.stdout


def test_init_issues_no_certificate_for_a_retired_organisation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A retired organisation has no certificate to be issued; the directory's administrator,
    who records its retirement, has one."""
    policies = policy_dir_with(POLICIES, tmp_path / "policies", TWO_SCHOOLS_TWO_DISTRICTS)
    path = policies / DIRECTORY_FILE
    roles = load_policy(policies).recipients
    on = date(2026, 6, 30)
    path.write_bytes(
        retired(path.read_bytes(), str(path), roles, "skole-9002", on=on, reason="x")[0]
    )
    d = tmp_path / "creds"
    assert main(["init", str(d), "--policy-dir", str(policies)]) == 0
    capsys.readouterr()
    assert Credentials(d, Principals.recipient("skole-9001")).cert.is_file()
    assert Credentials(d, Principals().directory_admin).cert.is_file()
    assert not Credentials(d, Principals.recipient("skole-9002")).cert.exists()
