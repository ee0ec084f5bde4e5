"""Legal-basis policies: load and validate policies/, decide deliver or deny per recipient."""

from broker.core.policy.evaluate import Facts, Verdict, decide
from broker.core.policy.load import load_policy
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
    "load_policy",
]
