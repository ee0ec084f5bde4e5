"""Edits of the directory file as text: an addition appended, a retirement inserted into its
entry; every other byte of the file (its comments too) kept, each edit validated as the file is."""

from __future__ import annotations

import difflib
from datetime import date
from typing import Any

import pytest

from broker.core.directory import Organisation, Unresolved
from broker.core.directory_edit import added, retired
from broker.core.errors import PolicyError
from broker.core.policy import PolicySet
from tests.conftest import POLICIES

SHIPPED = (POLICIES / "directory.yaml").read_bytes()
ON = date(2026, 6, 30)
SCHOOL = {
    "id": "skole-9100",
    "name": "Eksempelskole nr. 100",
    "kind": "school",
    "school_id": "osloskolen-9100",
    "district": "Alna",
    "example": True,
}


def _inserted(old: bytes, new: bytes) -> list[str]:
    """The lines ``new`` has that ``old`` has not; AssertionError if any line was changed or
    removed."""
    diff = list(difflib.ndiff(old.decode().splitlines(), new.decode().splitlines()))
    assert not [d for d in diff if d.startswith("- ")], "a line was changed or removed"
    return [d[2:] for d in diff if d.startswith("+ ")]


def test_an_organisation_is_appended_and_nothing_else_changes(policy: PolicySet) -> None:
    new, directory = added(SHIPPED, "directory.yaml", policy.recipients, SCHOOL)
    assert new.startswith(SHIPPED)  # comments and every other entry byte for byte
    assert new[len(SHIPPED) :].decode() == (
        "  - id: skole-9100\n"
        "    name: Eksempelskole nr. 100\n"
        "    kind: school\n"
        "    school_id: osloskolen-9100\n"
        "    district: Alna\n"
        "    example: true\n"
    )
    assert directory.organisations["skole-9100"] == Organisation.model_validate(SCHOOL)
    assert directory.topics["skole-9100"] == "deliveries.school.skole-9100"
    found = directory.resolve("school", {"school": {"school_id": "osloskolen-9100"}})
    assert isinstance(found, Organisation)
    assert found.id == "skole-9100"


def test_values_yaml_would_misread_are_quoted(policy: PolicySet) -> None:
    """A name with ': ' and ' #', an organisation number of digits: read back as written."""
    entry = {**SCHOOL, "name": 'Skole: "nye" #2', "organisation_number": "974778874"}
    new, directory = added(SHIPPED, "directory.yaml", policy.recipients, entry)
    org = directory.organisations["skole-9100"]
    assert (org.name, org.organisation_number) == ('Skole: "nye" #2', "974778874")
    assert b'organisation_number: "974778874"' in new


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"school_id": None}, "skole-9100: school_id: a school needs the id"),
        ({"id": "skole-9001"}, "skole-9001: id: listed twice"),
        ({"school_id": "osloskolen-9001"}, "skole-9100: fills the same place as skole-9001"),
        ({"kind": "bakery"}, "skole-9100: kind: 'bakery' is not a recipient"),
        ({"district": "Bergen"}, "skole-9100: district: not one of Oslo's fifteen districts"),
        ({"id": "Skole 9100"}, "Skole 9100: id: String should match pattern"),
        ({"organisation_number": "12"}, "skole-9100: organisation_number: String should match"),
    ],
    ids=["no school id", "id taken", "same school", "unknown role", "not Oslo", "bad id", "orgnr"],
)
def test_an_invalid_addition_is_refused_naming_the_field(
    policy: PolicySet, change: dict[str, Any], problem: str
) -> None:
    with pytest.raises(PolicyError) as caught:
        added(SHIPPED, "directory.yaml", policy.recipients, {**SCHOOL, **change})
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems


def test_a_retirement_inserts_three_lines_at_the_end_of_its_entry(policy: PolicySet) -> None:
    """skole-9039 is followed by a blank line and the next section's comment: the lines go
    after its last field, before them."""
    new, directory = retired(
        SHIPPED,
        "directory.yaml",
        policy.recipients,
        "skole-9039",
        on=ON,
        reason='Slått sammen med "nr. 1"',
        successor="skole-9001",
    )
    assert _inserted(SHIPPED, new) == [
        "    retired: 2026-06-30",
        '    retired_reason: "Slått sammen med \\"nr. 1\\""',
        "    successor: skole-9001",
    ]
    text = new.decode()
    entry_end = text.index("    successor: skole-9001\n") + len("    successor: skole-9001\n")
    assert text[entry_end:].startswith("\n  # --- one organisation for all of Oslo")
    gone = directory.retired["skole-9039"]
    assert (gone.retired, gone.retired_reason, gone.successor) == (
        ON,
        'Slått sammen med "nr. 1"',
        "skole-9001",
    )
    assert "skole-9039" not in directory.organisations
    assert "skole-9039" not in directory.topics


def test_the_last_entry_of_a_file_without_a_final_newline_is_retired(
    policy: PolicySet,
) -> None:
    old = SHIPPED.rstrip(b"\n")
    new, directory = retired(
        old, "directory.yaml", policy.recipients, "fritidsklubb-oslo", on=ON, reason="Nedlagt"
    )
    assert new == old + b'\n    retired: 2026-06-30\n    retired_reason: "Nedlagt"\n'
    assert "fritidsklubb-oslo" in directory.retired


def test_a_retired_school_resolves_to_no_one_with_its_own_reason(policy: PolicySet) -> None:
    _, directory = retired(
        SHIPPED, "directory.yaml", policy.recipients, "skole-9002", on=ON, reason="Nedlagt"
    )
    found = directory.resolve("school", {"school": {"school_id": "osloskolen-9002"}})
    assert isinstance(found, Unresolved)
    assert found.code == "organisation-retired"
    assert "skole-9002" in found.detail
    assert "osloskolen-9002" not in str(found)  # the notice's value is never echoed


@pytest.mark.parametrize(
    ("organisation", "successor", "problem"),
    [
        ("skole-9002", "bydel-alna-barnevern", "successor: 'bydel-alna-barnevern' is a child"),
        ("skole-9002", "skole-9999", "successor: 'skole-9999' is not listed"),
        ("skole-9002", "skole-9002", "successor: an organisation cannot succeed itself"),
        ("nowhere", None, "nowhere: id: not in the directory"),
    ],
    ids=["other kind", "not listed", "itself", "unknown"],
)
def test_an_invalid_retirement_is_refused_naming_the_field(
    policy: PolicySet, organisation: str, successor: str | None, problem: str
) -> None:
    with pytest.raises(PolicyError) as caught:
        retired(
            SHIPPED,
            "directory.yaml",
            policy.recipients,
            organisation,
            on=ON,
            reason="x",
            successor=successor,
        )
    assert any(problem in p for p in caught.value.problems), caught.value.problems


def test_a_successor_must_be_active_and_a_retirement_happens_once(policy: PolicySet) -> None:
    once, _ = retired(
        SHIPPED, "directory.yaml", policy.recipients, "skole-9001", on=ON, reason="Nedlagt"
    )
    with pytest.raises(PolicyError, match="skole-9001: retired: already retired on 2026-06-30"):
        retired(once, "directory.yaml", policy.recipients, "skole-9001", on=ON, reason="igjen")
    with pytest.raises(PolicyError, match="successor: 'skole-9001' is retired itself"):
        retired(
            once,
            "directory.yaml",
            policy.recipients,
            "skole-9002",
            on=ON,
            reason="x",
            successor="skole-9001",
        )


def test_a_reason_that_is_blank_or_too_long_is_refused(policy: PolicySet) -> None:
    for reason, problem in (("   ", "at least 1 character"), ("x" * 501, "at most 500")):
        with pytest.raises(PolicyError, match=f"skole-9002: retired_reason: .*{problem}"):
            retired(
                SHIPPED, "directory.yaml", policy.recipients, "skole-9002", on=ON, reason=reason
            )


def test_an_entry_in_flow_style_is_left_for_a_person(policy: PolicySet) -> None:
    """Only a block entry starting '- id: ID' is edited; anything else is named, not guessed."""
    old = b"organisations:\n  - {id: salto-oslo, name: SaLTo, kind: salto}\n"
    with pytest.raises(PolicyError, match="no block entry starting '- id: salto-oslo'"):
        retired(old, "directory.yaml", policy.recipients, "salto-oslo", on=ON, reason="x")
