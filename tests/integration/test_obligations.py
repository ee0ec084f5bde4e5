"""The duty to inform on a real audit topic: a disclosure's record opens it, `broker audit
inform` publishes a signed event as the reviewer, verify attributes it, and the auditor store
shows the obligation closed; a record that opened no duty is refused before anything is sent."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from broker.core.policy import PolicySet
from tests.integration.test_audit_topic import _fresh_audit

pytestmark = pytest.mark.integration


def _row(output: str, record_id: str) -> str:
    (row,) = [line for line in output.splitlines() if record_id[:16] in line]
    return row


def test_an_informed_event_is_attributed_and_closes_the_obligation(
    kafka: str, tmp_path: Path, policy: PolicySet
) -> None:
    a = _fresh_audit(kafka, tmp_path)
    a.publish(policy, ["threat"])
    school = next(r for r in a.published if r["recipient"] == "school")
    denied = next(r for r in a.published if r["outcome"] == "deny")
    assert school["duties"] == ["inform-data-subject"]
    a.run("seal", "--once", "--every", "1")  # also makes the sealing key sync trusts
    a.run("sync")
    assert "open" in _row(a.run("obligations").stdout, school["record_id"])

    refused = a.run("inform", "--record", denied["record_id"], "--exception", "already-informed",
                    check=False)  # fmt: skip
    assert refused.returncode == 2
    assert "opened no duty to inform" in refused.stderr
    told = datetime.now(UTC).isoformat()
    a.run("inform", "--record", school["record_id"], "--informed", "child,guardians",
          "--how", "letter", "--at", told)  # fmt: skip

    a.run("seal", "--once", "--every", "1")
    a.run("sync")
    assert "closed" in _row(a.run("obligations", "--all").stdout, school["record_id"])
    assert school["record_id"][:16] not in a.run("obligations").stdout
    verified = a.run("verify")
    assert "attributed: an entitled writer signed every message" in verified.stdout
    assert re.search(r"unattributed messages\s*│\s*0\s*│", verified.stdout), verified.stdout
    sealed = rf"sealed records\s*│\s*{len(a.published) + 1}\s*│"  # the decisions and the event
    assert re.search(sealed, verified.stdout), verified.stdout
