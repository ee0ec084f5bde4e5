"""One walk of the rules: the deciding rule and, for `broker policy explain`, every rule for
the recipient with what became of it, from the same call the worker's decision makes."""

from __future__ import annotations

from typing import Any

from broker.core.notices import NOTICE_SENDERS, notice_model
from broker.core.policy import Facts, PolicySet
from broker.core.policy.evaluate import Choice, choose
from broker.core.records import Outcome
from tests.conftest import example


def _choice(policy: PolicySet, doc: dict[str, Any], recipient: str) -> Choice:
    notice = notice_model(doc["notice_type"]).model_validate(doc)  # type: ignore[union-attr]
    data = notice.model_dump(mode="json", exclude_none=True)
    facts = Facts(policy, notice.notice_type, data, notice.child_age())
    return choose(policy, facts, NOTICE_SENDERS[notice.notice_type], notice.notice_type, recipient)


def test_a_deny_rule_decides_and_the_allow_rules_are_not_tried(policy: PolicySet) -> None:
    """A witness: SaLTo's deny rule applies, so its allow rule is listed but never tried."""
    doc = example("robbery")
    doc["incident"]["child_role"] = "witness"
    choice = _choice(policy, doc, "salto")
    assert (choice.outcome, choice.rule and choice.rule.id) == (
        Outcome.deny,
        "incident-salto-deny-witness",
    )
    assert [(r.id, why) for r, why in choice.steps] == [
        ("incident-salto-deny-witness", "applies: denies"),
        ("incident-salto-cooperation", "not tried: rule incident-salto-deny-witness decided"),
    ]


def test_earlier_rules_say_why_they_did_not_apply(policy: PolicySet) -> None:
    """The deciding rule is the first that applies; each rule before it says why not, and
    an urgent rule is not tried for a notice not flagged urgent."""
    choice = _choice(policy, example("threat"), "salto")
    assert choice.rule is not None
    assert choice.rule.id == "risk-salto-cooperation"
    steps = {r.id: why for r, why in choice.steps}
    assert steps["risk-salto-consent"].startswith("consent-missing")
    assert steps["risk-salto-cooperation"] == "applies"
    assert choice.reasons[-1] == "allowed: rule risk-salto-cooperation"
    school = _choice(policy, example("threat"), "school")
    assert {r.id: why for r, why in school.steps}["risk-school-urgent-offence"] == (
        "not tried: urgent rule, notice not flagged"
    )


def test_every_rule_for_the_recipient_is_in_the_steps(policy: PolicySet) -> None:
    """Nothing is left out of the explanation, whichever way the decision ends."""
    for name in ("recruited", "threat", "robbery"):
        doc = example(name)
        sender = NOTICE_SENDERS[doc["notice_type"]]
        for recipient in policy.recipients:
            rules = policy.rules_for(sender, doc["notice_type"], recipient)
            steps = _choice(policy, doc, recipient).steps
            assert sorted(r.id for r, _ in steps) == sorted(r.id for r in rules)
