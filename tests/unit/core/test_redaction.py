"""Redaction keeps only released paths, reaches into lists, and names what it withheld."""

from broker.core.paths import covers, leaves
from broker.core.redaction import redact

DOC = {
    "child": {"name": "A", "national_id": "N", "school": {"name": "S", "school_id": "I"}},
    "guardians": [{"name": "G1", "phone": "P1"}, {"name": "G2", "phone": "P2"}],
    "incident": {"co_involved": [], "summary": "X"},
}


def test_only_released_leaves_are_copied() -> None:
    """A leaf path releases that leaf; siblings are withheld and named."""
    r = redact(DOC, ["child.name"])
    assert r.copy == {"child": {"name": "A"}}
    assert r.kept == ("child.name",)
    assert "child.national_id" in r.withheld
    assert "guardians[].phone" in r.withheld


def test_object_path_releases_everything_beneath() -> None:
    """Naming an object releases its whole subtree."""
    r = redact(DOC, ["child.school"])
    assert r.copy == {"child": {"school": {"name": "S", "school_id": "I"}}}


def test_list_paths_reach_into_every_element() -> None:
    """guardians[].name keeps each guardian's name and drops each phone."""
    r = redact(DOC, ["guardians[].name"])
    assert r.copy == {"guardians": [{"name": "G1"}, {"name": "G2"}]}
    assert r.withheld.count("guardians[].phone") == 1


def test_empty_containers_only_where_released() -> None:
    """Even an empty list says something ("no co-involved"), so it is shown only if released."""
    incident = redact(DOC, ["incident.summary"]).copy["incident"]
    assert isinstance(incident, dict)
    assert "co_involved" not in incident
    assert redact(DOC, ["incident.co_involved"]).copy["incident"] == {"co_involved": []}


def test_no_released_value_leaks_from_withheld_fields() -> None:
    """Every value in the copy comes from a released path."""
    allowed = ["child.name", "guardians[].name"]
    r = redact(DOC, allowed)
    for path, _value in leaves(r.copy):
        assert any(covers(a, path) for a in allowed)


def test_prefix_is_not_a_partial_name_match() -> None:
    """'child.name' does not cover 'child.name_x'; a path covers only whole segments."""
    assert not covers("child.name", "child.name_x")
    assert covers("guardians", "guardians[].name")


# --- operators -------------------------------------------------------------------------------

from datetime import date  # noqa: E402

import pytest  # noqa: E402

from broker.core.redaction import parse_op, pseudonym_key  # noqa: E402

PERSON = {
    "child": {
        "national_id": "09851251259",
        "birth_date": "2012-05-09",
        "address": "Trondheimsveien 999, 0987 Oslo",
        "district": "Grorud",
    },
    "guardians": [{"phone": "+47 911 22 333", "address": "Kirkeveien 1, 0368 Oslo"}],
    "incident": {"co_involved": [{"age": 17}]},
}


def test_most_specific_path_decides() -> None:
    """child: keep with child.national_id: drop releases the child without the number."""
    r = redact(PERSON, {"child": parse_op("keep"), "child.national_id": parse_op("drop")})
    child = r.copy["child"]
    assert isinstance(child, dict)
    assert "national_id" not in child
    assert child["district"] == "Grorud"
    assert "child.national_id" in r.withheld


def test_mask_keeps_the_last_digits() -> None:
    """mask:2 hides all but the last two digits and keeps separators."""
    r = redact(PERSON, {"guardians[].phone": parse_op("mask:2")})
    assert r.copy == {"guardians": [{"phone": "+** *** ** *33"}]}
    assert r.transformed == {"guardians[].phone": "mask:2"}


@pytest.mark.parametrize(
    ("path", "op", "expected"),
    [
        ("child.birth_date", "generalise:age-band", "13-14"),
        ("child.birth_date", "generalise:birth-year", 2012),
        ("child.birth_date", "generalise:month", "2012-05"),
        ("child.address", "generalise:district", "Grorud"),
        ("guardians[].address", "generalise:district", "03xx Oslo"),
        ("incident.co_involved[].age", "generalise:age-band", "15-17"),
    ],
)
def test_generalise(path: str, op: str, expected: object) -> None:
    """Dates become age bands, years or months; addresses become districts; ages, bands."""
    r = redact(PERSON, {path: parse_op(op)}, as_of=date(2026, 11, 24))
    values = [v for p, v in leaves(r.copy) if p == path]
    assert values == [expected]
    assert r.transformed == {path: op}


def test_age_band_without_a_date_to_measure_from_is_withheld() -> None:
    """No issue date, no age: the birth date is withheld rather than guessed."""
    r = redact(PERSON, {"child.birth_date": parse_op("generalise:age-band")})
    assert r.copy == {}
    assert "child.birth_date" in r.withheld


def test_pseudonyms_are_stable_per_recipient_and_differ_between_recipients() -> None:
    """Same key, same pseudonym; another recipient's key, another pseudonym; never the value."""
    fields = {"child.national_id": parse_op("pseudonymise")}
    key = b"k" * 32
    a1 = redact(PERSON, fields, pseudonym_key=pseudonym_key(key, "school")).copy
    a2 = redact(PERSON, fields, pseudonym_key=pseudonym_key(key, "school")).copy
    b = redact(PERSON, fields, pseudonym_key=pseudonym_key(key, "salto")).copy
    assert a1 == a2
    assert a1["child"]["national_id"] != b["child"]["national_id"]  # type: ignore[index]
    assert "09851251259" not in str(a1) + str(b)


@pytest.mark.parametrize("text", ["hide", "mask:x", "generalise", "generalise:zip", "keep:1"])
def test_bad_operator_is_named(text: str) -> None:
    """An unknown operator or argument is refused with the reason."""
    with pytest.raises(ValueError, match=r"operator|mask|generalise|argument"):
        parse_op(text)
