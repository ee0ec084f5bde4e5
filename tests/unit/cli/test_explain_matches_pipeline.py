"""`broker policy explain` and the worker decide with the same walk of the rules: for every
example notice and every recipient, the rule explain names is the one the pipeline decides by."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from broker.adapters.examples import EXAMPLES
from broker.cli.policy import app
from broker.core.policy import PolicySet
from broker.testing.fakes import ready_pipeline
from tests.conftest import EXAMPLES_SENT, ROOT

NOTICES = sorted(
    [
        *EXAMPLES.glob("*.json"),
        *EXAMPLES.glob("other-senders/*.json"),
        *(ROOT / "policies" / "tests" / "notices").glob("*.json"),
    ]
)
HEADLINE = re.compile(
    r"→ (?P<recipient>\S+), \S+ notice: (?P<outcome>deliver|deny)(?: by rule (?P<rule>\S+))?"
)


def _explained(path: Path, recipient: str) -> tuple[str, str | None]:
    """(outcome, rule) as `broker policy explain` prints them."""
    result = CliRunner().invoke(
        app,
        ["explain", str(path), recipient, "--policies", str(ROOT / "policies")],
        env={"COLUMNS": "250"},
    )
    assert result.exit_code == 0, result.output
    found = HEADLINE.search(result.output)
    assert found is not None, result.output
    assert found["recipient"] == recipient
    return found["outcome"], found["rule"]


@pytest.mark.parametrize("path", NOTICES, ids=lambda p: p.name)
def test_explain_names_the_rule_the_pipeline_decides_by(path: Path, policy: PolicySet) -> None:
    """Each recipient's outcome and deciding rule (deny rules too) agree with the Decision."""
    ready = ready_pipeline(policy, now=EXAMPLES_SENT)
    result = ready.process(json.loads(path.read_text(encoding="utf-8")))
    assert result.error is None, result.error
    decided = {d.recipient: (d.outcome.value, d.rule_id) for d in result.decisions}
    assert sorted(decided) == sorted(policy.recipients)
    for recipient, expected in decided.items():
        assert _explained(path, recipient) == expected, recipient


def test_the_check_has_teeth(policy: PolicySet) -> None:
    """The examples reach deliveries, denials by default and at least two different rules."""
    ready = ready_pipeline(policy, now=EXAMPLES_SENT)
    outcomes, rules = set(), set()
    for path in NOTICES:
        for d in ready.process(json.loads(path.read_text(encoding="utf-8"))).decisions:
            outcomes.add(d.outcome.value)
            rules.add(d.rule_id)
    assert outcomes == {"deliver", "deny"}
    assert len(rules - {None}) >= 2
