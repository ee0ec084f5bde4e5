"""Whom a record names, as people say it: a recipient role by its name in the reader's language
("barneverntjenesten i bydelen"), an organisation by its name in the directory ("Bydel Alna,
barneverntjenesten"). Records carry the ids; the page and the reports show the names, the ids
beside them for those who want them.

A decision's purpose is its rule's, in the reader's language, shown only for a record decided
under the policy version loaded (an older rule may have said something else; the record keeps
the English it was decided with).

Pure: the shell loads the policies and the directory and passes ``Names`` in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from broker.core.i18n import LANGUAGES, Translator

if TYPE_CHECKING:
    from broker.core.directory import Directory
    from broker.core.policy.model import PolicySet


@dataclass(frozen=True)
class Names:
    recipients: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # role -> lang ->
    organisations: Mapping[str, str] = field(default_factory=dict)  # id -> name (retired too)
    purposes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # rule -> lang ->
    version: str = ""  # the policy version the purposes are of

    @classmethod
    def of(cls, policy: PolicySet, directory: Directory | None = None) -> Names:
        recipients = {
            r.id: {lang: r.name.of(lang) for lang in LANGUAGES} for r in policy.recipients.values()
        }
        orgs = {} if directory is None else {**directory.retired, **directory.organisations}
        purposes = {r.id: {lang: r.purpose.of(lang) for lang in LANGUAGES} for r in policy.rules}
        return cls(recipients, {o.id: o.name for o in orgs.values()}, purposes, policy.version)

    def recipient(self, role: str, lang: str) -> str:
        """The role's name; an unknown role (a record older than the policies) as its id."""
        return self.recipients.get(role, {}).get(lang) or role

    def organisation(self, org: str) -> str:
        """The organisation's name; one the directory does not have as its id."""
        return self.organisations.get(org) or org

    def purpose(self, rule: str, policy_version: str, lang: str) -> str:
        """Why: the rule's purpose, if the record was decided under these policies; else ""."""
        if not rule or policy_version != self.version:
            return ""
        return self.purposes.get(rule, {}).get(lang, "")

    def whom(self, role: str, org: str | None, t: Translator) -> str:
        """'Bydel Alna, barneverntjenesten (barneverntjenesten i bydelen)': the organisation
        and the role it filled; the role alone for a record that names no organisation."""
        if not org:
            return self.recipient(role, t.lang)
        return t.gettext(
            "%(organisation)s (%(role)s)",
            organisation=self.organisation(org),
            role=self.recipient(role, t.lang),
        )
