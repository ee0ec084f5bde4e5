"""Redaction keeps only released paths, reaches into lists, and names what it withheld."""

from broker.paths import covers, leaves
from broker.redaction import redact

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
    assert "co_involved" not in redact(DOC, ["incident.summary"]).copy["incident"]
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
