"""What-if: replay notices through the current and a proposed policy set and count, per
recipient and field, what would be disclosed more or less.

Fast enough for a million notices because most of the work is shared: a recipient's decision
depends only on what the conditions read (broker.core.policy.view) and on the basis requirements,
so decisions are cached on that projection; what a rule releases depends only on which fields
a notice has (its shape), so releases are counted per (decisions, shape) and expanded once at
the end. Values are never kept: only field paths and counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from broker.core.national_id import age_on, birth_date_of
from broker.core.notices import NOTICE_SENDERS
from broker.core.policy.evaluate import Facts, choose, decision_problem
from broker.core.policy.model import PolicySet
from broker.core.policy.view import View
from broker.core.records import Outcome

Decisions = tuple[str | None, ...]  # the deciding allow rule per recipient, None for deny
Key = tuple[str, Decisions, Decisions, tuple[str, ...]]


def child_age_of(doc: Mapping[str, Any]) -> int:
    """Age in whole years when issued, from the JSON document (as the models compute it)."""
    child = doc.get("child") or {}
    born_text = child.get("birth_date")
    if born_text is None:  # a feedback names the child by national id only
        born = birth_date_of(child["national_id"])
    else:
        born = date.fromisoformat(born_text)
    return age_on(born, datetime.fromisoformat(doc["issued_at"]))


def _shape(doc: Any, prefix: str, out: set[str]) -> set[str]:
    """The leaf paths of a JSON document (``leaves`` without the values, for speed)."""
    if type(doc) is dict:
        for key, value in doc.items():
            _shape(value, f"{prefix}.{key}" if prefix else key, out)
    elif type(doc) is list:
        for item in doc:
            _shape(item, prefix + "[]", out)
    elif doc is not None:
        out.add(prefix)
    return out


def _freeze(doc: Mapping[str, Any], view: View) -> tuple[Any, ...]:
    """A hashable key of what a view shows of ``doc`` (what ``project`` would give)."""
    out: list[Any] = []
    for key, child in view.children.items():
        if key not in doc:
            out.append(None)
            continue
        value = doc[key]
        if child.full or (child.children and type(value) is not dict):
            out.append(_hashable(value))
        elif child.children:
            out.append(_freeze(value, child))
        else:
            out.append(True)  # present
    return tuple(out)


def _hashable(value: Any) -> Any:
    if type(value) is dict:
        return tuple((k, _hashable(v)) for k, v in sorted(value.items()))
    if type(value) is list:
        return tuple(_hashable(v) for v in value)
    return value


class _Side:
    """One policy set's decisions, cached on what its conditions read."""

    def __init__(self, policy: PolicySet, recipients: tuple[str, ...]) -> None:
        self.policy = policy
        self.recipients = recipients
        self.cache: dict[tuple[Any, ...], Decisions] = {}

    def decisions(self, notice_type: str, doc: Mapping[str, Any], age: int) -> Decisions:
        view = self.policy.views.get(notice_type)
        key: tuple[Any, ...] | None = None
        if view is not None or notice_type not in self.policy.views:
            key = (
                notice_type,
                age,
                bool(doc.get("necessity")),
                bool(doc.get("consent")),
                decision_problem(doc),
                doc.get("danger_to_life_or_health") is True,
                _freeze(doc, view) if view is not None else (),
            )
            hit = self.cache.get(key)
            if hit is not None:
                return hit
        facts = Facts(self.policy, notice_type, doc, age)
        sender = NOTICE_SENDERS[notice_type]
        out = []
        for recipient in self.recipients:
            choice = choose(self.policy, facts, sender, notice_type, recipient)
            out.append(
                choice.rule.id if choice.outcome is Outcome.deliver and choice.rule else None
            )
        result = tuple(out)
        if key is not None:
            self.cache[key] = result
        return result


@dataclass
class Tally:
    """Counts from one or more chunks; merge with ``+=``. Keys hold ids and paths, no values."""

    counts: Counter[Key] = field(default_factory=Counter)
    notices: int = 0
    skipped: int = 0  # not a known notice type

    def __iadd__(self, other: Tally) -> Tally:
        self.counts.update(other.counts)
        self.notices += other.notices
        self.skipped += other.skipped
        return self


class Simulator:
    def __init__(self, current: PolicySet, proposed: PolicySet) -> None:
        self.recipients = tuple(sorted(set(current.recipients) | set(proposed.recipients)))
        self.sides = (_Side(current, self.recipients), _Side(proposed, self.recipients))
        self.tally = Tally()
        self._shapes: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._parts: dict[int, tuple[Any, frozenset[str]]] = {}
        self._by_parts: dict[tuple[Any, ...], tuple[str, ...]] = {}

    def add(self, doc: Mapping[str, Any]) -> None:
        notice_type = doc.get("notice_type")
        if not isinstance(notice_type, str) or notice_type not in NOTICE_SENDERS:
            self.tally.skipped += 1
            return
        age = child_age_of(doc)
        shape = self._shape_of(doc)
        current = self.sides[0].decisions(notice_type, doc, age)
        proposed = self.sides[1].decisions(notice_type, doc, age)
        self.tally.counts[(notice_type, current, proposed, shape)] += 1
        self.tally.notices += 1

    def _shape_of(self, doc: Mapping[str, Any]) -> tuple[str, ...]:
        # Top-level parts repeat between notices (and are shared by the synthetic generator):
        # their paths are cached by identity, holding the object so its id cannot be reused.
        cache = self._parts
        if len(cache) > 200_000:
            cache.clear()
            self._by_parts.clear()
        parts: list[frozenset[str] | str] = []
        for key, value in doc.items():
            if type(value) is dict or type(value) is list:
                hit = cache.get(id(value))
                if hit is None or hit[0] is not value:
                    hit = cache[id(value)] = (value, frozenset(_shape(value, key, set())))
                parts.append(hit[1])
            elif value is not None:
                parts.append(key)
        sig = tuple(p if type(p) is str else id(p) for p in parts)
        shape = self._by_parts.get(sig)
        if shape is None:
            paths: set[str] = set()
            for p in parts:
                if isinstance(p, str):
                    paths.add(p)
                else:
                    paths |= p
            shape = tuple(sorted(paths))
            shape = self._by_parts[sig] = self._shapes.setdefault(shape, shape)
        return shape

    def add_all(self, docs: Iterable[Mapping[str, Any]]) -> None:
        for doc in docs:
            self.add(doc)


@dataclass(frozen=True)
class FieldChange:
    recipient: str
    field: str
    current: int  # notices in which the field would be disclosed under the current set
    proposed: int
    more: int  # disclosed under the proposed set, not under the current one
    less: int
    operator_changed: int  # disclosed under both, transformed differently


@dataclass(frozen=True)
class Report:
    notices: int
    skipped: int
    deliveries: dict[str, tuple[int, int]]  # recipient -> (current, proposed)
    fields: list[FieldChange]

    @property
    def changes(self) -> list[FieldChange]:
        return [f for f in self.fields if f.more or f.less or f.operator_changed]


def _released(
    policy: PolicySet,
    rule_id: str | None,
    shape: tuple[str, ...],
    cache: dict[tuple[str, tuple[str, ...]], dict[str, str]],
) -> dict[str, str]:
    """Path -> operator of each field of this shape the rule releases."""
    if rule_id is None:
        return {}
    hit = cache.get((rule_id, shape))
    if hit is None:
        plan = next(r for r in policy.rules if r.id == rule_id).plan
        ops = ((path, plan.op_for(path)) for path in shape)
        hit = cache[(rule_id, shape)] = {p: str(op) for p, op in ops if op is not None}
    return hit


def report(tally: Tally, current: PolicySet, proposed: PolicySet) -> Report:
    """Expand the tally into per-recipient, per-field counts."""
    recipients = tuple(sorted(set(current.recipients) | set(proposed.recipients)))
    cur_n: Counter[tuple[str, str]] = Counter()
    prop_n: Counter[tuple[str, str]] = Counter()
    more: Counter[tuple[str, str]] = Counter()
    less: Counter[tuple[str, str]] = Counter()
    changed: Counter[tuple[str, str]] = Counter()
    deliveries = {r: [0, 0] for r in recipients}
    caches: tuple[dict[Any, dict[str, str]], dict[Any, dict[str, str]]] = ({}, {})
    for (_, cur, prop, shape), n in tally.counts.items():
        for i, recipient in enumerate(recipients):
            deliveries[recipient][0] += n if cur[i] else 0
            deliveries[recipient][1] += n if prop[i] else 0
            a = _released(current, cur[i], shape, caches[0])
            b = _released(proposed, prop[i], shape, caches[1])
            for path in a.keys() | b.keys():
                k = (recipient, path)
                if path in a:
                    cur_n[k] += n
                if path in b:
                    prop_n[k] += n
                if path in b and path not in a:
                    more[k] += n
                elif path in a and path not in b:
                    less[k] += n
                elif a[path] != b[path]:
                    changed[k] += n
    rows = [
        FieldChange(
            r, p, cur_n[(r, p)], prop_n[(r, p)], more[(r, p)], less[(r, p)], changed[(r, p)]
        )
        for r, p in sorted(cur_n.keys() | prop_n.keys())
    ]
    return Report(
        tally.notices, tally.skipped, {r: (c, p) for r, (c, p) in deliveries.items()}, rows
    )


# The work units of `broker policy simulate`'s processes load the policy directories in each
# process (CEL programs cannot be pickled): broker.adapters.policy_files.generated_chunk and
# docs_chunk.
