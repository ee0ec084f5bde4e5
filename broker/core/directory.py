"""The organisations directory: who, by name, each recipient role is for one notice.

Rules are written per role (recipients.yaml: ``school``, ``child-welfare``, …); the directory
(policies/directory.yaml) lists the organisations that fill each role: every school, each of
Oslo's fifteen districts' child welfare services, Barnevernvakta, SaLTo, the police. Each
organisation is its own principal, with its own encryption key and delivery topic, all derived
from its id. ``resolve`` picks the one organisation a notice concerns for a role — the pupil's
own school, the child's district's service — or says why there is none; there is never a
fallback to "every school". ``moved_from`` names the service of the district a child moved
from, which the decision records but never delivers to.

A retired organisation (``retired: <date>``) stays in the file, since old audit records name it,
but is never resolved: its role resolves as if it were absent, with its own reason
(``organisation-retired``). Its ``successor`` is history, not routing: a copy meant for the
retired organisation is never sent to another one, which needs a decision of its own.

Pure: parses the file's bytes; the directory is read by broker.adapters.policy_files.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from broker.core.errors import PolicyError
from broker.core.policy.load import yaml_list
from broker.core.policy.model import Recipient

DIRECTORY_FILE = "directory.yaml"

# Oslo's fifteen districts (bydeler), as notices name them in child.district.
DISTRICTS: tuple[str, ...] = (
    "Alna",
    "Bjerke",
    "Frogner",
    "Gamle Oslo",
    "Grorud",
    "Grünerløkka",
    "Nordre Aker",
    "Nordstrand",
    "Sagene",
    "St. Hanshaugen",
    "Stovner",
    "Søndre Nordstrand",
    "Ullern",
    "Vestre Aker",
    "Østensjø",
)


class Scope(StrEnum):
    """How a role is resolved to the one organisation a notice concerns."""

    school = "school"  # the pupil's school: child.school.school_id
    district = "district"  # the child's district: child.district
    single = "single"  # one organisation fills the role for all of Oslo


# The roles resolved per child; every other role is filled by exactly one organisation.
SCOPES: dict[str, Scope] = {"school": Scope.school, "child-welfare": Scope.district}

# Publishers are organisations too: a publishing unit's key is bound to a sender class and an
# organisation (the key registry), and the organisation must be one the directory lists, of a
# kind that sends that class's notices. A school's key cannot publish for the police, nor for
# an organisation that is not a school.
PUBLISHING_KINDS: dict[str, frozenset[str]] = {
    "police": frozenset({"police"}),
    "school": frozenset({"school"}),
    "child-welfare": frozenset({"child-welfare", "barnevernvakta"}),
}


# at most 52 characters: its Kafka principal, "recipient.<id>", must fit in 63
ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,51}$"


class Organisation(BaseModel):
    """One organisation that may receive deliveries, as the directory lists it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=ID_PATTERN, description="its key owner and principal")
    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(description="the recipient role the rules name (recipients.yaml)")
    district: str | None = Field(default=None, description="its Oslo district, if it has one")
    school_id: str | None = Field(default=None, description="as notices name it in child.school")
    organisation_number: str | None = Field(default=None, pattern=r"^\d{9}$")
    example: bool = Field(default=False, description="an invented entry, not a real organisation")
    retired: date | None = Field(default=None, description="the day it stopped receiving")
    retired_reason: str | None = Field(default=None, min_length=1, max_length=500)
    successor: str | None = Field(
        default=None, pattern=ID_PATTERN, description="who took over its work (history only)"
    )

    def topic(self, role_topic: str) -> str:
        """Its delivery topic: the role's topic with the organisation's id after it."""
        return f"{role_topic}.{self.id}"


@dataclass(frozen=True)
class Unresolved:
    """No organisation fills the role for this notice, and why (a stable reason code)."""

    code: str
    detail: str

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}"


Place = tuple[str, ...]  # what an organisation fills: ("school", id), (role, district), (role,)


@dataclass(frozen=True)
class Directory:
    """A validated directory. ``version`` is the content hash of its file. ``organisations``:
    the active ones, by id, the only ones that get a topic, a key, a certificate or ACLs;
    ``topics``: each active organisation's delivery topic (before the deployment's prefix).
    ``retired``: the retired ones, kept for the history that names them."""

    version: str
    organisations: dict[str, Organisation]
    topics: dict[str, str]
    by_school: dict[str, Organisation]
    by_district: dict[tuple[str, str], Organisation]  # (role, district)
    single: dict[str, Organisation]  # role -> the one organisation
    retired: dict[str, Organisation]
    retired_places: dict[Place, Organisation]  # the place a retired one filled, if no one does

    def of_kind(self, kind: str) -> list[Organisation]:
        return [o for o in self.organisations.values() if o.kind == kind]

    def resolve(self, role: str, child: Mapping[str, Any]) -> Organisation | Unresolved:
        """The one active organisation that fills ``role`` for a notice about ``child`` (the
        notice's ``child`` object), or why none does."""
        scope = SCOPES.get(role, Scope.single)
        if scope is Scope.school:
            return self._school_of(child)
        if scope is Scope.district:
            district = str(child.get("district") or "")
            found = self.by_district.get((role, district))
            return found or self._vacant(
                (role, district), Unresolved("unknown-district", f"no {role} for child.district")
            )
        only = self.single.get(role)
        return only or self._vacant(
            (role,), Unresolved("no-organisation", f"the directory lists no {role}")
        )

    def publisher(self, organisation: str | None, sender: str | None) -> Organisation | Unresolved:
        """The organisation a verified notice was published by (its key's ``organisation``),
        if the directory lists it as one that sends ``sender``'s notices."""
        found = self.organisations.get(organisation or "")
        if found is None and (organisation or "") in self.retired:
            return Unresolved(
                "publisher-organisation-retired",
                "the publishing organisation was retired from the directory",
            )
        if found is None:
            return Unresolved(
                "publisher-organisation-unknown",
                "the publishing organisation is not in the directory",
            )
        if found.kind not in PUBLISHING_KINDS.get(sender or "", frozenset()):
            return Unresolved(
                "publisher-organisation-mismatch",
                f"the publishing organisation is a {found.kind}, which does not send "
                f"{sender} notices",
            )
        return found

    def moved_from(self, role: str, child: Mapping[str, Any]) -> Organisation | Unresolved | None:
        """For a role resolved by district, the organisation of the district the child moved
        from (``child.previous_district``), or why there is none; None if the notice names no
        previous district or the role is not resolved by district. Named in the decision and
        its audit record, never delivered to: no rule names it, and a disclosure to it would
        need a legal basis of its own."""
        previous = child.get("previous_district")
        if SCOPES.get(role, Scope.single) is not Scope.district or not previous:
            return None
        found = self.by_district.get((role, str(previous)))
        return found or Unresolved(
            "unknown-previous-district", f"no {role} for child.previous_district"
        )

    def _school_of(self, child: Mapping[str, Any]) -> Organisation | Unresolved:
        school = child.get("school")
        school_id = school.get("school_id") if isinstance(school, Mapping) else None
        if not school_id:
            return Unresolved("no-school", "the notice names no school for the child")
        found = self.by_school.get(str(school_id))
        return found or self._vacant(
            ("school", str(school_id)),
            Unresolved("unknown-school", "child.school.school_id is not listed"),
        )

    def _vacant(self, place: Place, otherwise: Unresolved) -> Unresolved:
        """Why no one fills ``place``: the retired organisation that did, if any."""
        gone = self.retired_places.get(place)
        if gone is None:
            return otherwise
        return Unresolved(
            "organisation-retired",
            f"{gone.id}, the {gone.kind} for this notice, was retired on {gone.retired}",
        )


def directory_version(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def parse_directory(data: bytes, where: str, roles: Mapping[str, Recipient]) -> Directory:
    """Validate the directory file's bytes against the recipient ``roles`` the policy defines
    (recipients.yaml, by id); raise PolicyError naming each entry and field that is wrong."""
    entries = yaml_list(data, where, "organisations")
    problems: list[str] = []
    orgs: list[Organisation] = []
    for i, entry in enumerate(entries):
        label = entry.get("id", f"#{i + 1}") if isinstance(entry, dict) else f"#{i + 1}"
        try:
            orgs.append(Organisation.model_validate(entry))
        except ValidationError as exc:
            for e in exc.errors():
                field = ".".join(str(p) for p in e["loc"]) or "entry"
                problems.append(f"{label}: {field}: {e['msg']}")
    problems += _check(orgs, set(roles))
    if problems:
        raise PolicyError(where, problems)
    return _index(orgs, directory_version(data), roles)


def _check(orgs: list[Organisation], roles: set[str]) -> list[str]:
    """Every organisation fills a known role, where it can be found, and no two active ones
    are one; a retirement says when and why, and names an active successor of its kind."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    for o in orgs:
        if o.id in seen:
            problems.append(f"{o.id}: id: listed twice")
        seen[o.id] = o.kind
        if o.kind not in roles:
            problems.append(f"{o.id}: kind: '{o.kind}' is not a recipient in recipients.yaml")
        if o.district is not None and o.district not in DISTRICTS:
            problems.append(f"{o.id}: district: not one of Oslo's fifteen districts")
        scope = SCOPES.get(o.kind, Scope.single)
        if scope is Scope.school and not o.school_id:
            problems.append(f"{o.id}: school_id: a school needs the id notices name it by")
        if scope is Scope.district and o.district is None:
            problems.append(f"{o.id}: district: a {o.kind} organisation serves one district")
    by_id = {o.id: o for o in orgs}
    for o in orgs:
        problems += _retirement(o, by_id)
    problems += _duplicates([o for o in orgs if o.retired is None])
    return problems


def _retirement(o: Organisation, by_id: Mapping[str, Organisation]) -> list[str]:
    if o.retired is None:
        return [
            f"{o.id}: {name}: only a retired organisation has one (set retired: DATE)"
            for name in ("retired_reason", "successor")
            if getattr(o, name) is not None
        ]
    problems = []
    if o.retired_reason is None:
        problems.append(f"{o.id}: retired_reason: a retired organisation says why it was retired")
    if o.successor is not None:
        problems += _successor(o, by_id.get(o.successor))
    return problems


def _successor(o: Organisation, successor: Organisation | None) -> list[str]:
    """A successor is listed, active and of the same kind (it is history, not routing)."""
    if successor is None:
        return [f"{o.id}: successor: '{o.successor}' is not listed in the directory"]
    if successor.id == o.id:
        return [f"{o.id}: successor: an organisation cannot succeed itself"]
    if successor.retired is not None:
        return [f"{o.id}: successor: '{o.successor}' is retired itself"]
    if successor.kind != o.kind:
        return [f"{o.id}: successor: '{o.successor}' is a {successor.kind}, not a {o.kind}"]
    return []


def _place(o: Organisation) -> Place:
    """What an organisation fills: no two active organisations fill the same place."""
    scope = SCOPES.get(o.kind, Scope.single)
    if scope is Scope.school:
        return ("school", o.school_id or "")
    if scope is Scope.district:
        return (o.kind, o.district or "")
    return (o.kind,)


def _duplicates(orgs: list[Organisation]) -> list[str]:
    problems: list[str] = []
    keys: dict[Place, str] = {}
    for o in orgs:
        key = _place(o)
        if key in keys:
            problems.append(f"{o.id}: fills the same place as {keys[key]} ({'/'.join(key)})")
        keys.setdefault(key, o.id)
    return problems


def _index(orgs: list[Organisation], version: str, roles: Mapping[str, Recipient]) -> Directory:
    active = [o for o in orgs if o.retired is None]
    retired = [o for o in orgs if o.retired is not None]
    by_school: dict[str, Organisation] = {}
    by_district: dict[tuple[str, str], Organisation] = {}
    single: dict[str, Organisation] = {}
    for o in active:
        scope = SCOPES.get(o.kind, Scope.single)
        if scope is Scope.school and o.school_id:
            by_school[o.school_id] = o
        elif scope is Scope.district and o.district:
            by_district[(o.kind, o.district)] = o
        elif scope is Scope.single:
            single[o.kind] = o
    filled = {_place(o) for o in active}
    # the latest retirement names a vacant place (the entry's own date decides, not file order)
    vacant = {_place(o): o for o in sorted(retired, key=lambda o: (str(o.retired), o.id))}
    vacant = {place: o for place, o in vacant.items() if place not in filled}
    topics = {o.id: o.topic(roles[o.kind].topic) for o in active}
    return Directory(
        version,
        {o.id: o for o in active},
        topics,
        by_school,
        by_district,
        single,
        {o.id: o for o in retired},
        vacant,
    )
