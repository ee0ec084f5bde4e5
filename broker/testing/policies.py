"""Helpers for tests of the policies: decide one notice document for one recipient, and edit
one rule of a copy of policies/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from broker.core.notices import NOTICE_SENDERS, notice_model
from broker.core.policy import Facts, PolicySet, Verdict, decide


def verdict(policy: PolicySet, doc: dict[str, Any], recipient: str) -> Verdict:
    """The decision for ``recipient`` of the notice ``doc`` (validated as its model first)."""
    model = notice_model(str(doc["notice_type"]))
    if model is None:
        raise ValueError(f"notice_type: unknown '{doc['notice_type']}'")
    notice = model.model_validate(doc)
    data = notice.model_dump(mode="json", exclude_none=True)
    return decide(
        policy,
        sender=NOTICE_SENDERS[notice.notice_type],
        notice_type=notice.notice_type,
        recipient=recipient,
        doc=data,
        facts=Facts(policy, notice.notice_type, data, notice.child_age()),
    )


def edit_rule(directory: Path, rule_id: str, old: str, new: str) -> None:
    """Replace ``old`` with ``new`` within one rule's entry of ``directory``/rules.yaml."""
    path = directory / "rules.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index(f"  - id: {rule_id}\n")
    end = text.find("\n  - id: ", start + 1)
    end = len(text) if end < 0 else end
    entry = text[start:end]
    if old not in entry:
        raise ValueError(f"rule {rule_id}: '{old}' is not in its entry")
    path.write_text(text[:start] + entry.replace(old, new, 1) + text[end:], encoding="utf-8")
