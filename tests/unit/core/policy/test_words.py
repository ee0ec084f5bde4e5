"""A rule's condition in words: exact for the CEL subset the policies use, None otherwise;
fields by their labels, in bokmål or English."""

from __future__ import annotations

import pytest

from broker.adapters.locale import load_translator
from broker.core.policy.model import PolicySet
from broker.core.policy.words import in_words

EN = load_translator("en")
NB = load_translator("nb")


@pytest.mark.parametrize(
    ("cel", "words"),
    [
        ("true", "always"),
        ("false", "never"),
        ("child_age < 18", "the child is under 18"),
        ("child_age >= 15", "the child is 15 or older"),
        ("notice.incident.child_role == 'suspect'", "child's role is suspect"),
        ("notice.risk.level != 'low'", "risk level is not low"),
        ("notice.risk.level in ['high', 'critical']", "risk level is one of (high, critical)"),
        ("'staff' in notice.risk.at_risk", "who is at risk includes staff"),
        ("has(notice.child.school)", "child's school is given"),
        ("!has(notice.risk)", "risk assessment is not given"),
        ("notice.imminent_offence", "imminent offence is true"),
        ("size(notice.concern.duty_grounds) > 0", "grounds of the duty to report is not empty"),
        ("size(notice.concern.duty_grounds) == 0", "grounds of the duty to report is empty"),
        ("size(notice.guardians) >= 2", "the number of guardians ≥ 2"),
        ('notice.incident.category == "threat"', "kind of incident is threat"),
        (
            "notice.risk.threatened.exists(p, p.role == 'staff')",
            "who is threatened, by whom has an entry where role is staff",
        ),
        (
            "notice.guardians.all(g, has(g.phone))",
            "every entry of guardians is such that phone is given",
        ),
    ],
)
def test_each_construct_in_words(cel: str, words: str) -> None:
    assert in_words(cel, EN) == words


def test_a_different_connective_inside_another_is_bracketed() -> None:
    """'a and (b or c)' must not read as '(a and b) or c'."""
    cel = "child_age < 18 && (notice.x == 'a' || notice.y == 'b')"
    assert in_words(cel, EN) == "the child is under 18 and (x is a or y is b)"
    cel = "(child_age < 18 && notice.x == 'a') || notice.y == 'b'"
    assert in_words(cel, EN) == "(the child is under 18 and x is a) or y is b"
    cel = "child_age < 18 && notice.x == 'a' && notice.y == 'b'"
    assert in_words(cel, EN) == "the child is under 18 and x is a and y is b"


@pytest.mark.parametrize(
    "cel",
    [
        "notice.a + 1 > 2",  # arithmetic
        "notice.a.startsWith('x')",  # a method call
        "notice.a == notice.b",  # two fields compared
        "'a' in ['a', 'b']",  # a literal in a literal list
        "child_age < 18 &&",  # incomplete
        "notice.a ? 1 : 2",  # the conditional operator
        "[notice.a] == [1]",  # a list of fields
        "notice.a == 'x' notice.b",  # trailing tokens
        "not(x)",  # an unknown function
        "notice.a.exists(p, notice.b == 1)",  # a path outside the macro's variable
        "notice.a.map(p, p.x)",  # a macro outside the subset
    ],
)
def test_anything_outside_the_subset_is_not_paraphrased(cel: str) -> None:
    assert in_words(cel, EN) is None


def test_every_shipped_condition_is_said_in_words(policy: PolicySet) -> None:
    """The report shows the CEL as a fallback; the shipped rules should never need it."""
    unsaid = [r.id for r in policy.rules if in_words(r.condition, NB) is None]
    assert unsaid == []


@pytest.mark.parametrize(
    ("cel", "words"),
    [
        ("child_age < 18", "barnet er under 18"),
        ("notice.risk.level in ['high', 'critical']", "risikonivå er en av (high, critical)"),
        ("!has(notice.risk)", "risikovurderingen er ikke oppgitt"),
        ("notice.imminent_offence", "straffbar handling som kan skje snart er sann"),
        (
            "child_age < 18 && (notice.x == 'a' || notice.y == 'b')",
            "barnet er under 18 og (x er a eller y er b)",
        ),
    ],
)
def test_conditions_read_in_bokmal(cel: str, words: str) -> None:
    assert in_words(cel, NB) == words
