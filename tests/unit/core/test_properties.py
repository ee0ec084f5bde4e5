"""Properties over random valid notices (hypothesis): a recipient's copy never holds a value
from a field its rule does not release, and pseudonyms differ between recipients."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.adapters.policy_files import load_policy
from broker.core.directory import DISTRICTS
from broker.core.notices import NOTICE_SENDERS, notice_model
from broker.core.paths import leaves
from broker.core.policy import Facts, PolicySet, decide
from broker.core.policy.synthetic import Generator
from broker.core.redaction import Plan, parse_op, pseudonym_key, redact
from tests.conftest import ROOT

POLICY: PolicySet = load_policy(ROOT / "policies")
KEY = b"property-test-subject-key-0123456789"


@st.composite
def notices(draw: st.DrawFn) -> dict[str, Any]:
    """A valid notice of any type: a synthetic one with flags and options drawn at random."""
    gen = Generator(draw(st.integers(0, 2**32)), children=5)
    doc = gen.notice()
    if doc["notice_type"] in ("incident", "risk", "concern-report"):
        doc["danger_to_life_or_health"] = draw(st.booleans())
    for optional in ("necessity", "consent", "controller_decision"):
        if optional in doc and draw(st.booleans()):
            del doc[optional]
    child = doc["child"]
    if "district" in child and draw(st.booleans()):  # a child who moved between districts
        others = [d for d in DISTRICTS if d != child["district"]]
        child["previous_district"] = draw(st.sampled_from(others))
    model = notice_model(doc["notice_type"])
    assert model is not None
    return model.model_validate(doc).model_dump(mode="json", exclude_none=True)


def _released_values(doc: dict[str, Any], plan: Plan) -> set[str]:
    return {str(v) for p, v in leaves(doc) if plan.op_for(p) is not None}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(notices())
def test_copies_hold_only_released_values(doc: dict[str, Any]) -> None:
    """Every value in every recipient's copy is released by the deciding rule (or is a
    transformation of one), and no withheld value appears anywhere in the copy."""
    notice_type = doc["notice_type"]
    model = notice_model(notice_type)
    assert model is not None
    facts = Facts(POLICY, notice_type, doc, model.model_validate(doc).child_age())
    for recipient in POLICY.recipients:
        v = decide(
            POLICY,
            sender=NOTICE_SENDERS[notice_type],
            notice_type=notice_type,
            recipient=recipient,
            doc=doc,
            facts=facts,
            pseudonym_key=pseudonym_key(KEY, recipient),
        )
        if v.redacted is None:
            continue
        assert v.rule is not None
        plan = v.rule.plan
        copy_paths = {p for p, _ in leaves(v.redacted.copy)}
        assert all(plan.op_for(p) is not None for p in copy_paths)
        released = _released_values(doc, plan)
        # what a transform outputs is released by the rule too (an address generalised to its
        # district may equal the district field's own value)
        released |= {str(x) for p, x in leaves(v.redacted.copy) if p in v.redacted.transformed}
        # kept leaves equal their source (checked below); what else could carry a withheld
        # value is a transform's output: a mask or a pseudonym must never contain one
        # (a generalisation may coincide with one: an address generalised to its district)
        copy_values = [
            str(x)
            for p, x in leaves(v.redacted.copy)
            if str(v.redacted.transformed.get(p, "")).startswith(("mask", "pseud"))
        ]
        leaked = [
            str(val)
            for p, val in leaves(doc)
            if plan.op_for(p) is None
            and len(str(val)) > 6
            and str(val) not in released
            and any(str(val) in cv for cv in copy_values)
        ]
        assert leaked == []
        for path, value in leaves(v.redacted.copy):
            if path not in v.redacted.transformed:
                assert str(value) in {str(x) for p, x in leaves(doc) if p == path}


@settings(max_examples=100, deadline=None)
@given(
    value=st.text(min_size=1, max_size=40),
    recipients=st.lists(
        st.text("abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=20),
        min_size=2,
        max_size=5,
        unique=True,
    ),
)
def test_pseudonyms_differ_between_recipients(value: str, recipients: list[str]) -> None:
    """The same value pseudonymised for different recipients never gives the same pseudonym,
    and never the value itself."""
    fields = {"x": parse_op("pseudonymise")}
    seen = set()
    for recipient in recipients:
        out = redact({"x": value}, fields, pseudonym_key=pseudonym_key(KEY, recipient)).copy["x"]
        assert out != value
        seen.add(out)
    assert len(seen) == len(recipients)
