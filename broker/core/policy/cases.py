"""Declarative policy test cases kept beside the policies (policies/tests/*.yaml), as OPA and
Cerbos keep theirs: an input notice, a recipient, the expected decision and fields.

    notices:                        # base notices, JSON files relative to the case file
      threat: notices/threat.json
    cases:
      - name: the school gets the staff threat, not the national id
        notice: threat
        set: {necessity: null, risk.level: critical}   # dotted paths; null removes the field
        recipient: school
        expect:
          decision: deliver         # or deny
          rule: risk-school-staff-threat # the deciding rule (a deny rule, or null)
          legal_basis: prl-27-2-1
          kept: [child.name]        # each released (as is or transformed)
          withheld: [child.national_id]
          transformed: {child.birth_date: generalise:age-band}
          reasons: [necessity-missing]   # each starts one of the decision's reasons
          review_required: false
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from broker.core.notices import NOTICE_SENDERS, notice_model
from broker.core.policy.evaluate import Facts, decide
from broker.core.policy.model import PolicySet


class Expect(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: str = Field(pattern="^(deliver|deny)$")
    rule: str | None = None
    legal_basis: str | None = None
    kept: list[str] = Field(default_factory=list)
    withheld: list[str] = Field(default_factory=list)
    transformed: dict[str, str] = Field(default_factory=dict)
    reasons: list[str] = Field(default_factory=list)
    review_required: bool | None = None


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    notice: str
    set: dict[str, Any] = Field(default_factory=dict)
    recipient: str
    expect: Expect


class CaseFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    notices: dict[str, str] = Field(default_factory=dict)
    cases: list[Case] = Field(min_length=1)


class Status(StrEnum):
    passed = "PASS"
    failed = "FAIL"
    error = "ERROR"


@dataclass(frozen=True)
class CaseResult:
    file: str
    name: str
    recipient: str
    status: Status
    problems: tuple[str, ...] = ()
    rule: str | None = None  # the rule that decided (a deny rule too)


@dataclass
class Run:
    results: list[CaseResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(r.status is Status.passed for r in self.results)

    def covered(self) -> set[str]:
        return {r.rule for r in self.results if r.rule and r.status is Status.passed}


def _apply(doc: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    for path, value in changes.items():
        target = doc
        *parents, last = path.split(".")
        for p in parents:
            target = target.setdefault(p, {})
        if value is None:
            target.pop(last, None)
        else:
            target[last] = value
    return doc


def run_case(policy: PolicySet, case: Case, doc: dict[str, Any], file: str) -> CaseResult:
    """Decide one case and compare with what it expects."""
    model = notice_model(str(doc.get("notice_type")))
    if model is None:
        return CaseResult(file, case.name, case.recipient, Status.error, ("unknown notice_type",))
    try:
        notice = model.model_validate(doc)
    except ValidationError as exc:
        where = "; ".join(".".join(map(str, e["loc"])) + ": " + e["msg"] for e in exc.errors())
        return CaseResult(
            file, case.name, case.recipient, Status.error, (f"invalid notice: {where}",)
        )
    data = notice.model_dump(mode="json", exclude_none=True)
    facts = Facts(policy, notice.notice_type, data, notice.child_age())
    v = decide(
        policy,
        sender=NOTICE_SENDERS[notice.notice_type],
        notice_type=notice.notice_type,
        recipient=case.recipient,
        doc=data,
        facts=facts,
    )
    e, problems = case.expect, []
    if v.outcome.value != e.decision:
        problems.append(f"decision: expected {e.decision}, got {v.outcome.value}")
    rule = v.rule.id if v.rule else None
    if "rule" in e.model_fields_set and rule != e.rule:
        problems.append(f"rule: expected {e.rule}, got {rule}")
    basis = v.legal_basis.id if v.legal_basis else None
    if e.legal_basis is not None and basis != e.legal_basis:
        under = f" (rule {rule})" if rule else ""
        problems.append(f"legal_basis: expected {e.legal_basis}, got {basis}{under}")
    kept = set(v.redacted.kept) if v.redacted else set()
    transformed = v.redacted.transformed if v.redacted else {}
    problems += [f"kept: '{p}' was not released" for p in e.kept if p not in kept]
    problems += [f"withheld: '{p}' was released" for p in e.withheld if p in kept]
    problems += [
        f"transformed: '{p}' expected {op}, got {transformed.get(p, 'not transformed')}"
        for p, op in e.transformed.items()
        if transformed.get(p) != op
    ]
    problems += [
        f"reasons: none starts with '{r}'"
        for r in e.reasons
        if not any(x.startswith(r) for x in v.reasons)
    ]
    if e.review_required is not None and v.review_required != e.review_required:
        problems.append(f"review_required: expected {e.review_required}")
    status = Status.failed if problems else Status.passed
    return CaseResult(file, case.name, case.recipient, status, tuple(problems), rule)


class CaseSuite(Protocol):
    """The policy test cases (policies/tests): the case files and the notices they name.
    broker.adapters.policy_files.CaseFolder reads them from the directory."""

    def case_files(self) -> list[tuple[str, str]]:
        """(name, YAML text) of every case file, in the order they run."""
        ...

    def notice(self, rel: str) -> str:
        """The JSON text of a notice file, named relative to the case files; OSError or
        ValueError if it cannot be read."""
        ...


def run(policy: PolicySet, suite: CaseSuite | None) -> Run:
    """Run every case file of ``suite`` (None: there are no test cases)."""
    out = Run()
    if suite is not None:
        for label, text in suite.case_files():
            out.results += _run_file(policy, suite, label, text)
    return out


def _run_file(policy: PolicySet, suite: CaseSuite, label: str, text: str) -> list[CaseResult]:
    """The results of one case file: its notices that cannot be read, then each case."""
    try:
        spec = CaseFile.model_validate(yaml.safe_load(text))
    except (yaml.YAMLError, ValidationError) as exc:
        first = str(exc).splitlines()[0:3]
        return [CaseResult(label, "(file)", "-", Status.error, (" ".join(first),))]
    results: list[CaseResult] = []
    notices: dict[str, dict[str, Any]] = {}
    for name, rel in spec.notices.items():
        try:
            notices[name] = json.loads(suite.notice(rel))
        except (OSError, ValueError) as exc:
            problem = f"notice '{name}': cannot read {rel} ({type(exc).__name__})"
            results.append(CaseResult(label, "(file)", "-", Status.error, (problem,)))
    for case in spec.cases:
        if case.notice not in notices:
            problem = f"unknown notice '{case.notice}' (known: {', '.join(sorted(notices))})"
            results.append(CaseResult(label, case.name, case.recipient, Status.error, (problem,)))
            continue
        results.append(run_case(policy, case, _apply(notices[case.notice], case.set), label))
    return results
