"""The lawyers' report (`broker policy report`): per recipient role, each rule with its basis
(status, source), what the notice must carry, the duties, the fields and how, the open
questions; the invariants' state; readable without the YAML."""

from __future__ import annotations

import shutil
from pathlib import Path

from broker.adapters.locale import load_translator
from broker.adapters.policy_files import load_policy
from broker.core.policy.model import PolicySet
from broker.core.policy.report import html_report, markdown
from tests.conftest import ROOT

EN = load_translator("en")  # these tests read the English report

# A rule that breaks the intelligence invariant, appended to a copy of the shipped rules.
LEAK = """
  - id: leak-intelligence
    sender: police
    notice_type: risk
    recipient: salto
    legal_basis: prl-24-1
    purpose: {nb: En bevisst feil regel., en: A deliberately wrong rule.}
    condition: child_age < 18 && 'child' in notice.risk.at_risk
    fields:
      notice_id: keep
      intelligence: keep
"""


def _section(md: str, heading: str) -> str:
    start = md.index(heading)
    end = md.find("\n## ", start + 1)
    return md[start : end if end > 0 else len(md)]


def _rule(md: str, rule_id: str) -> str:
    start = md.index(f"### Rule {rule_id}\n")
    end = md.find("\n### ", start + 1)
    return md[start:end]


def test_a_rule_reads_in_words_with_its_basis_status_and_source(policy: PolicySet) -> None:
    md = markdown(policy, EN)
    rule = next(r for r in policy.rules if r.recipient == "salto" and r.legal_basis == "prl-24-1")
    text = _rule(md, rule.id)
    assert f"| purpose | {rule.purpose.en} |" in text
    assert "| from | police: risk notices |" in text
    assert "Politiregisterloven § 24 nr. 1 (prl-24-1)" in text
    assert "| status of the citation | confirmed (read in the statute text) |" in text
    assert "| source | https://lovdata.no/dokument/NL/lov/2010-05-28-16 |" in text
    assert (
        "| the notice must carry | a reference to recorded consent (who consented, when) |" in text
    )
    assert "consent-for-a-minor: Who may consent for a minor" in text
    assert "| when | the child is under 18" in text
    assert "| child.name | as it is |" in text


def test_an_urgent_rule_says_so_and_names_its_review() -> None:
    policy = load_policy(ROOT / "policies")
    md = markdown(policy, EN)
    urgent = next(r for r in policy.rules if r.urgent)
    text = _rule(md, urgent.id)
    assert "urgent: only for a notice flagged as danger to life or health" in text
    assert "review afterwards" in text


def test_the_invariants_hold_per_recipient_and_overall(policy: PolicySet) -> None:
    md = markdown(policy, EN)
    salto = _section(md, "## SaLTo coordinator (salto)")
    assert "### Invariants for this recipient" in salto
    ids = {i.id for i in policy.invariants}
    assert "intelligence-stays-with-the-police" in ids
    assert "| intelligence-stays-with-the-police |" in salto
    overall = _section(md, "\n## Invariants\n")
    for inv in policy.invariants:
        assert f"| {inv.id} | {inv.statement.en} | holds" in overall
    assert "FAILS" not in md


def test_a_broken_invariant_shows_in_the_report_naming_rule_and_field(tmp_path: Path) -> None:
    copy = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", copy)
    with (copy / "rules.yaml").open("a", encoding="utf-8") as f:
        f.write(LEAK)
    md = markdown(load_policy(copy), EN)
    salto = _section(md, "## SaLTo coordinator (salto)")
    line = next(
        x for x in salto.splitlines() if x.startswith("| intelligence-stays-with-the-police")
    )
    assert "FAILS: rule leak-intelligence, intelligence." in line
    school = _section(md, "## The pupil's school (principal) (school)")
    assert "FAILS" not in school  # the broken rule is SaLTo's, not the school's


def test_a_recipient_without_rules_receives_nothing(policy: PolicySet) -> None:
    md = markdown(policy, EN)
    ruleless = [r for r in policy.recipients if not any(x.recipient == r for x in policy.rules)]
    for rid in ruleless:
        assert "No rule: this recipient receives nothing." in _section(md, f"({rid})\n")
    overview = md[: md.index("\n## ")]
    for recipient in policy.recipients.values():
        assert f"| {recipient.name.en} ({recipient.id}) |" in overview


def test_html_links_the_sources_and_escapes_the_rest(policy: PolicySet) -> None:
    page = html_report(policy, EN)
    assert page.startswith("<!doctype html>")
    href = "https://lovdata.no/dokument/NL/lov/2010-05-28-16"
    assert f'<td><a href="{href}">{href}</a></td>' in page
    assert "&amp;&amp;" in page  # CEL's && is escaped, not markup
    assert "<td>&&" not in page


def test_a_discretionary_rule_asks_for_the_controller_decision_and_names_its_duties(
    policy: PolicySet,
) -> None:
    """A rule under a basis that needs the controller's decision says so, and lists the duty to
    inform that its disclosures open (policies/duties.yaml)."""
    md = markdown(policy, EN)
    inform = next(d for d in policy.duties if d.id == "inform-data-subject")
    bases = {b for o in inform.opens for b in o.bases}
    rule = next(
        r
        for r in policy.rules
        if r.effect.value == "allow"
        and r.sender == "police"
        and r.legal_basis in bases
        and "controller-decision" in policy.legal_bases[r.legal_basis].requires
    )
    text = _rule(md, rule.id)
    assert "the controller's written decision (who decided, in which role, when" in text
    duties = next(x for x in text.splitlines() if x.startswith("| duties a disclosure triggers"))
    assert "inform-data-subject: The police inform the child and the guardians" in duties
    consent = next(r for r in policy.rules if r.legal_basis == "prl-24-1")
    duties = next(
        x for x in _rule(md, consent.id).splitlines() if x.startswith("| duties a disclosure")
    )
    assert "inform-data-subject" not in duties  # who consented knows already


def test_the_catalogue_of_duties_and_what_holds_before_any_rule(policy: PolicySet) -> None:
    md = markdown(policy, EN)
    duties = _section(md, "\n## Duties that come with a disclosure\n")
    for duty in policy.duties:
        assert f"| {duty.id} | {duty.kind.value} |" in duties
    assert "due within 21 days" in duties
    before = _section(md, "\n## Before any rule\n")
    assert "refused for every recipient (not-a-child)" in before
    assert "exempt: concern-feedback" in before
    assert "politiregisterloven § 35 annet ledd" in before


def test_the_report_reads_in_bokmal_by_default(policy: PolicySet) -> None:
    """The report's words in bokmål, the law with Norwegian sections, conditions in bokmål,
    fields by their labels with the path beside them; the policy's own texts as written."""
    md = markdown(policy, load_translator("nb"))
    assert md.startswith("# Regler for informasjonsdeling\n")
    assert "## Hjemler" in md
    assert "Politiregisterloven § 27 første ledd" in md
    rule = next(r for r in policy.rules if r.recipient == "salto" and r.legal_basis == "prl-24-1")
    text = md[md.index(f"### Regel {rule.id}\n") :]
    assert "| når | barnet er under 18" in text
    assert "| barnets navn | child.name | som den er |" in text
    assert "| hvor sikker henvisningen er | bekreftet (lest i lovteksten) |" in text
