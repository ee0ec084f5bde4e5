"""Field labels for people live with the schema: every notice field, and every field a rule can
release, has a bokmål and an English label and a one-line description."""

from __future__ import annotations

from broker.adapters.locale import load_translator
from broker.core.labels import field_groups, field_label, field_labels
from broker.core.notices import NOTICE_MODELS
from broker.core.paths import schema_kinds
from broker.core.policy.model import PolicySet


def test_every_model_field_has_both_labels_and_a_description() -> None:
    paths = {
        p.replace("[]", "")
        for model in NOTICE_MODELS.values()
        for p in schema_kinds(model)
        if not p.endswith("[]")
    }
    labels = field_labels()
    assert paths <= set(labels)
    unlabelled = {
        p
        for p in paths
        if not (labels[p].labels.get("nb") and labels[p].labels.get("en") and labels[p].description)
    }
    assert unlabelled == set()


def test_every_field_a_rule_can_release_has_both_labels(policy: PolicySet) -> None:
    """A released path with no label of its own would show as a path to its reader."""
    labels = field_labels()
    missing = {
        path
        for rule in policy.rules
        for path in rule.fields
        if set(labels.get(path.replace("[]", ""), _NONE).labels) != {"nb", "en"}
    }
    assert missing == set()


class _NONE:
    labels: dict[str, str] = {}  # noqa: RUF012 - a stand-in for a missing label, never changed


def test_a_path_reads_as_its_label_in_each_language() -> None:
    assert field_label("child.national_id", "nb") == "barnets fødselsnummer"
    assert field_label("child.national_id", "en") == "child's national id number"
    assert field_label("risk.at_risk[]", "nb") == "hvem som er utsatt"


def test_an_unknown_path_falls_back_to_its_labelled_prefix_then_to_itself() -> None:
    assert field_label("child.shoe_size", "nb") == "opplysninger om barnet"
    assert field_label("nothing.here", "nb") == "nothing.here"


def test_the_json_schemas_carry_the_labels() -> None:
    """`broker schemas export` writes what the page and the reports show."""
    schema = NOTICE_MODELS[("incident", 1)].model_json_schema()
    child = schema["$defs"]["Child"]["properties"]["national_id"]
    assert child["x-label"] == {"nb": "barnets fødselsnummer", "en": "child's national id number"}
    assert child["x-personal-data"] == "identifier"  # the type's own metadata is kept
    assert child["description"]


def test_a_long_field_list_is_grouped_by_the_part_of_the_notice() -> None:
    """The child's fields under the child, the guardians' under the guardians, top-level fields
    under "about the notice"; in the order the parts first appear, each field by its label."""
    paths = ["child.name", "notice_id", "guardians[].name", "child.school.name", "purpose"]
    nb = field_groups(paths, load_translator("nb"))
    assert [(g["label"], g["path"]) for g in nb] == [
        ("opplysninger om barnet", "child"),
        ("om meldingen", ""),
        ("de foresatte", "guardians"),
    ]
    assert [f["path"] for f in nb[0]["fields"]] == ["child.name", "child.school.name"]
    assert nb[0]["fields"][0]["label"] == "barnets navn"
    assert [f["path"] for f in nb[1]["fields"]] == ["notice_id", "purpose"]
    en = field_groups(paths, load_translator("en"))
    assert [g["label"] for g in en] == ["about the child", "about the notice", "guardians"]
    assert field_groups([], load_translator("nb")) == []
