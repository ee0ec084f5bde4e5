"""What of a notice the rules' conditions read, so that only that is handed to CEL.

The CEL library converts its whole input to CEL values on every evaluation, at about a
microsecond per value: a full notice costs ~100 µs, the few fields conditions test a few. So
the loader finds, in each condition, the ``notice.a.b`` chains it names and the evaluator
passes a projection of the notice holding just those subtrees. This is a scan for names, not a
parser: whenever a condition uses ``notice`` in any other way (``notice['x']``, ``notice`` as a
whole, a bound alias), the full notice is passed. Including too much is always safe; a chain
inside ``has(...)`` needs only the key's presence, and a chain ending in a method call
(``notice.guardians.exists(...)``) includes the object the method is called on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

_NOTICE = re.compile(r"\bnotice\b")
_CHAIN = re.compile(r"notice((?:\s*\.\s*[A-Za-z_][A-Za-z0-9_]*)+)")
_HAS_BEFORE = re.compile(r"\bhas\s*\(\s*$")
_CLOSE_AFTER = re.compile(r"^\s*\)")
_CALL_AFTER = re.compile(r"^\s*\(")


@dataclass
class View:
    """A tree of keys: ``full`` includes the whole subtree, otherwise ``children`` (or, with
    neither, only whether the key is present)."""

    full: bool = False
    children: dict[str, View] = field(default_factory=dict)

    def add(self, path: list[str], *, presence: bool) -> None:
        node = self
        for seg in path:
            if node.full:
                return
            node = node.children.setdefault(seg, View())
        if not presence:
            node.full, node.children = True, {}

    def merge(self, other: View) -> None:
        if self.full:
            return
        if other.full:
            self.full, self.children = True, {}
            return
        for key, child in other.children.items():
            self.children.setdefault(key, View()).merge(child)

    def paths(self, prefix: str = "") -> list[str]:
        """Readable summary, for `broker policy explain`: 'risk.level', 'child.school?'."""
        out: list[str] = []
        for key, child in sorted(self.children.items()):
            path = f"{prefix}.{key}" if prefix else key
            if child.full:
                out.append(path)
            elif child.children:
                out += child.paths(path)
            else:
                out.append(path + "?")
        return out


def references(condition: str) -> View | None:
    """The parts of ``notice`` a condition reads, or None if it may read all of it."""
    view = View()
    for found in _NOTICE.finditer(condition):
        start = found.start()
        chain = _CHAIN.match(condition, start)
        if chain is None:
            return None
        path = [s.strip() for s in chain.group(1).split(".")[1:]]
        before, after = condition[:start], condition[chain.end() :]
        if _CALL_AFTER.match(after):  # a method or macro on the object before it
            path = path[:-1]
            if not path:
                return None
            view.add(path, presence=False)
        else:
            view.add(path, presence=bool(_HAS_BEFORE.search(before) and _CLOSE_AFTER.match(after)))
    return view


def union(conditions: Iterable[str]) -> View | None:
    """One view for several conditions (all rules for a notice type); None: the whole notice."""
    out = View()
    for condition in conditions:
        view = references(condition)
        if view is None:
            return None
        out.merge(view)
    return out


def project(doc: Mapping[str, Any], view: View) -> dict[str, Any]:
    """The part of ``doc`` a view names. An absent key stays absent."""
    out: dict[str, Any] = {}
    for key, child in view.children.items():
        if key not in doc:
            continue
        value = doc[key]
        if child.full:
            out[key] = value
        elif child.children:
            out[key] = project(value, child) if isinstance(value, Mapping) else value
        elif isinstance(value, Mapping):
            out[key] = {}
        else:
            out[key] = [] if isinstance(value, list) else value
    return out
