"""Legal-basis policies: parse and validate the policy files, decide deliver or deny per
recipient (broker.adapters.policy_files reads policies/)."""

from broker.core.policy.evaluate import Facts, Verdict, decide
from broker.core.policy.model import Effect, LegalBasis, PolicySet, Recipient, Rule

__all__ = [
    "Effect",
    "Facts",
    "LegalBasis",
    "PolicySet",
    "Recipient",
    "Rule",
    "Verdict",
    "decide",
]
