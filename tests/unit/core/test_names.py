"""Records name ids; people read names: the organisation and the role it filled."""

from __future__ import annotations

from broker.adapters.locale import load_translator
from broker.adapters.policy_files import load_directory
from broker.core.names import Names
from broker.core.policy.model import PolicySet

NB, EN = load_translator("nb"), load_translator("en")
NAMES = Names(
    recipients={"school": {"nb": "elevens skole", "en": "the pupil's school"}},
    organisations={"skole-9002": "Eksempelskolen"},
)


def test_an_organisation_is_named_with_the_role_it_filled_in_the_readers_language() -> None:
    assert NAMES.whom("school", "skole-9002", NB) == "Eksempelskolen (elevens skole)"
    assert NAMES.whom("school", "skole-9002", EN) == "Eksempelskolen (the pupil's school)"


def test_a_record_without_an_organisation_names_the_role() -> None:
    assert NAMES.whom("school", None, NB) == "elevens skole"


def test_what_the_policies_and_directory_do_not_know_is_shown_as_its_id() -> None:
    """A record older than the policies (a role since renamed, an organisation removed)."""
    assert NAMES.whom("youth-club", "klubb-1", NB) == "klubb-1 (youth-club)"
    assert Names().whom("school", None, EN) == "school"


def test_the_shipped_policies_name_every_role_in_both_languages(policy: PolicySet) -> None:
    names = Names.of(policy, load_directory(policy))
    for role, recipient in policy.recipients.items():
        assert names.recipient(role, "nb") == recipient.name.nb != role
        assert names.recipient(role, "en") == recipient.name.en != role
    alna = names.organisation("bydel-alna-barnevern")
    assert alna == "Bydel Alna, barneverntjenesten"


def test_why_is_the_rules_purpose_only_under_the_policies_it_was_decided_by() -> None:
    names = Names(
        purposes={"r1": {"nb": "Forebygge vold.", "en": "Prevent violence."}}, version="sha256:a"
    )
    assert names.purpose("r1", "sha256:a", "nb") == "Forebygge vold."
    assert names.purpose("r1", "sha256:a", "en") == "Prevent violence."
    assert names.purpose("r1", "sha256:b", "nb") == ""  # decided under other policies
    assert names.purpose("r2", "sha256:a", "nb") == ""
    assert names.purpose("", "", "nb") == ""


def test_the_shipped_rules_purposes_are_named(policy: PolicySet) -> None:
    names = Names.of(policy)
    rule = policy.rules[0]
    assert names.purpose(rule.id, policy.version, "nb") == rule.purpose.nb
    assert names.purpose(rule.id, policy.version, "en") == rule.purpose.en
