"""Field-by-field redaction: a recipient's copy holds only the paths its rule releases, each
kept as it is or transformed by the rule's operator.

Allow-list, never deny-list: a field added to a notice type later is withheld until a rule
names it. Operators (the syntax lawyers write in rules.yaml):

    keep                 the value as it is
    drop                 withheld (the same as not listing the path; useful beneath a kept object)
    mask[:N]             all but the last N letters and digits replaced by '*' (default N = 2)
    generalise:age-band  a date (as of the notice's issue date) or an age -> an age band
    generalise:birth-year / generalise:year   a date -> its year
    generalise:month     a date or time -> 'YYYY-MM'
    generalise:district  an address -> the district of the same object ('district' beside it),
                         else the postcode area ('03xx Oslo'); withheld if neither is known
    pseudonymise         a keyed HMAC under the recipient's own key: stable for one recipient,
                         different for every other, so two recipients cannot join on it

The most specific path decides: ``child: keep`` with ``child.national_id: pseudonymise``
releases the child with a pseudonym for the national id.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

OPERATORS = ("keep", "drop", "mask", "generalise", "pseudonymise")
GENERALISATIONS = ("age-band", "birth-year", "year", "month", "district")
# Bands that matter here: school stages, and 15, the age of criminal responsibility.
AGE_BANDS = ((0, 5), (6, 9), (10, 12), (13, 14), (15, 17))
# Which kinds of value (broker.core.paths.schema_kinds) each operator can transform.
APPLIES_TO: dict[str, frozenset[str]] = {
    "mask": frozenset({"string", "uuid"}),
    "generalise:age-band": frozenset({"date", "integer"}),
    "generalise:birth-year": frozenset({"date"}),
    "generalise:year": frozenset({"date", "date-time"}),
    "generalise:month": frozenset({"date", "date-time"}),
    "generalise:district": frozenset({"string"}),
}


@dataclass(frozen=True)
class FieldOp:
    """One operator with its argument, as written in a rule: ``mask:4``, ``generalise:year``."""

    name: str
    arg: str | None = None

    def __str__(self) -> str:
        return self.name if self.arg is None else f"{self.name}:{self.arg}"

    @property
    def kind_key(self) -> str:
        return "mask" if self.name == "mask" else str(self)

    @property
    def transforms(self) -> bool:
        return self.name not in ("keep", "drop")


KEEP = FieldOp("keep")
DROP = FieldOp("drop")


def parse_op(text: str) -> FieldOp:
    """Parse an operator; raise ValueError naming what is wrong."""
    name, _, arg = str(text).strip().partition(":")
    if name not in OPERATORS:
        raise ValueError(f"unknown operator '{name}' (one of: {', '.join(OPERATORS)})")
    if name == "mask":
        if arg and not (arg.isdigit() and 0 <= int(arg) <= 8):
            raise ValueError("mask takes the number of characters left visible, 0 to 8")
        return FieldOp("mask", arg or "2")
    if name == "generalise":
        if arg not in GENERALISATIONS:
            raise ValueError(f"generalise needs one of: {', '.join(GENERALISATIONS)}")
        return FieldOp(name, arg)
    if arg:
        raise ValueError(f"{name} takes no argument")
    return FieldOp(name)


# --- pseudonyms ----------------------------------------------------------------------------


@lru_cache(maxsize=256)
def pseudonym_key(subject_key: bytes, recipient: str) -> bytes:
    """The recipient's own pseudonym key, derived (HKDF-SHA256) from the broker's subject key."""
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=None,
        info=b"oslo-broker pseudonym v1\0" + recipient.encode(),
    ).derive(subject_key)


_EPHEMERAL_KEY = secrets.token_bytes(32)  # explain/test without a key: unlinkable pseudonyms


def pseudonym(key: bytes, value: object) -> str:
    return "ps:" + hmac.new(key, str(value).encode(), hashlib.sha256).hexdigest()[:32]


# --- the plan: a rule's field map as a trie of path segments --------------------------------


@dataclass
class _Node:
    op: FieldOp | None = None
    children: dict[str, _Node] = field(default_factory=dict)


def segments(path: str) -> list[str]:
    """``guardians[].phone`` -> ['guardians', '[]', 'phone']."""
    out: list[str] = []
    for part in path.split("."):
        name, brackets = part, 0
        while name.endswith("[]"):
            name, brackets = name[:-2], brackets + 1
        out += [name] + ["[]"] * brackets
    return out


@dataclass(frozen=True)
class Plan:
    """A rule's fields compiled once: path -> operator, most specific path deciding."""

    fields: Mapping[str, FieldOp]
    root: _Node = field(repr=False, compare=False)

    @classmethod
    def of(cls, fields: Mapping[str, FieldOp] | Iterable[str]) -> Plan:
        ops = (
            dict(fields)
            if isinstance(fields, Mapping)
            else dict.fromkeys(fields, KEEP)  # a plain list of paths: keep each
        )
        root = _Node()
        for path, op in ops.items():
            node = root
            for seg in segments(path):
                node = node.children.setdefault(seg, _Node())
            node.op = op
        return cls(ops, root)

    def op_for(self, path: str) -> FieldOp | None:
        """The operator deciding a leaf path (None: not released)."""
        node: _Node | None = self.root
        op = None
        for seg in segments(path):
            node = node.children.get(seg) if node else None
            if node is None:
                break
            op = node.op or op
        return None if op is None or op.name == "drop" else op


# --- applying it -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Redacted:
    copy: dict[str, object]
    kept: tuple[str, ...]  # every leaf path in the copy, transformed or not
    withheld: tuple[str, ...]
    transformed: dict[str, str] = field(default_factory=dict)  # path -> operator


_DROP = object()
_POSTCODE = re.compile(r"\b(\d{2})\d{2}\s+([^\d,]+?)\s*$")


def age_band(age: int) -> str:
    for low, high in AGE_BANDS:
        if low <= age <= high:
            return f"{low}-{high}"
    return f"{AGE_BANDS[-1][1] + 1}+"


def _age_on(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


class _Walk:
    __slots__ = ("as_of", "kept", "key", "transformed", "withheld")

    def __init__(self, key: bytes, as_of: date | None) -> None:
        self.key = key
        self.as_of = as_of
        self.kept: set[str] = set()
        self.withheld: set[str] = set()
        self.transformed: dict[str, str] = {}

    def node(self, doc: object, path: str, node: _Node | None, op: FieldOp | None) -> object:
        return self.leaf(doc, path, node, op, None)

    def leaf(  # noqa: PLR0911, PLR0912 - one walk over every kind of JSON value, kept flat
        self,
        value: object,
        path: str,
        node: _Node | None,
        op: FieldOp | None,
        parent: Mapping[str, object] | None,
    ) -> object:
        # JSON documents are plain dicts and lists: exact type checks are much faster than
        # isinstance against the Mapping ABC, which matters at a few µs per recipient.
        if node is not None and node.op is not None:
            op = node.op
        kind = type(value)
        if node is None and op is not None and op.name == "keep" and (kind is dict or kind is list):
            # all beneath kept as is: the value itself (documents are never mutated), and names
            if not value:
                return self._empty(value, path, op)
            self._keep(value, path)
            return value
        if kind is dict or (kind is not list and isinstance(value, Mapping)):
            if node is None and op is None:  # nothing beneath is released
                self._withhold(value, path)
                return _DROP
            children = node.children if node is not None else None
            out: dict[str, object] = {}
            for key, sub in value.items():  # type: ignore[attr-defined]
                child = children.get(key) if children else None
                got = self.leaf(sub, f"{path}.{key}" if path else key, child, op, value)  # type: ignore[arg-type]
                if got is not _DROP:
                    out[key] = got
            return out if out else self._empty(value, path, op)
        if kind is list:
            if node is None and op is None:
                self._withhold(value, path)
                return _DROP
            child = node.children.get("[]") if node is not None else None
            sub_path = path + "[]"
            items = [self.leaf(v, sub_path, child, op, None) for v in value]  # type: ignore[attr-defined]
            kept = [i for i in items if i is not _DROP]
            return kept if kept else self._empty(value, path, op)
        if value is None:
            return _DROP
        if op is None or op.name == "drop":
            self.withheld.add(path)
            return _DROP
        if op.name == "keep":
            self.kept.add(path)
            return value
        out_value = self.transform(op, value, parent)
        if out_value is _DROP:
            self.withheld.add(path)
            return _DROP
        self.kept.add(path)
        self.transformed[path] = str(op)
        return out_value

    def _keep(self, value: object, path: str) -> None:
        if type(value) is dict:
            for key, sub in value.items():
                if sub is not None:
                    self._keep(sub, f"{path}.{key}" if path else str(key))
        elif type(value) is list:
            for sub in value:
                self._keep(sub, path + "[]")
        elif value is not None:
            self.kept.add(path)

    def _withhold(self, value: object, path: str) -> None:
        if type(value) is dict or isinstance(value, Mapping):
            for key, sub in value.items():
                self._withhold(sub, f"{path}.{key}" if path else str(key))
        elif type(value) is list:
            for sub in value:
                self._withhold(sub, path + "[]")
        elif value is not None:
            self.withheld.add(path)

    def transform(self, op: FieldOp, value: object, parent: Mapping[str, object] | None) -> object:
        if op.name == "pseudonymise":
            return pseudonym(self.key, value)
        text = str(value)
        if op.name == "mask":
            visible = int(op.arg or 2)
            alnum = [i for i, c in enumerate(text) if c.isalnum()]
            hidden = set(alnum[: max(0, len(alnum) - visible)])
            return "".join("*" if i in hidden else c for i, c in enumerate(text))
        try:
            return self.generalise(op.arg or "", value, text, parent)
        except ValueError:  # not a date, or no date to measure age from: withhold
            return _DROP

    def generalise(  # noqa: PLR0911 - one return per generalisation
        self, how: str, value: object, text: str, parent: Mapping[str, object] | None
    ) -> object:
        if how == "district":
            if parent is not None and isinstance(parent.get("district"), str):
                return parent["district"]
            m = _POSTCODE.search(text)
            return f"{m.group(1)}xx {m.group(2)}" if m else _DROP
        if how == "age-band":
            if isinstance(value, int):
                return age_band(value)
            if self.as_of is None:
                return _DROP
            return age_band(_age_on(date.fromisoformat(text[:10]), self.as_of))
        day = datetime.fromisoformat(text).date() if "T" in text else date.fromisoformat(text)
        if how in ("birth-year", "year"):
            return day.year
        if how == "month":
            return f"{day.year:04d}-{day.month:02d}"
        return _DROP

    def _empty(self, doc: object, path: str, op: FieldOp | None) -> object:
        # An empty object or list is shown only where released: even "no co-involved" says
        # something.
        if not doc and path and op is not None and op.name != "drop":
            return doc
        return _DROP


def redact(
    doc: Mapping[str, object],
    fields: Plan | Mapping[str, FieldOp] | Iterable[str],
    *,
    pseudonym_key: bytes | None = None,
    as_of: date | None = None,
) -> Redacted:
    """Copy ``doc`` keeping only leaves a path in ``fields`` releases, each through its operator.

    ``pseudonym_key`` is the recipient's key (see :func:`pseudonym_key`); ``as_of`` the date
    ages are measured on (the notice's issue date).
    """
    plan = fields if isinstance(fields, Plan) else Plan.of(fields)
    walk = _Walk(pseudonym_key or _EPHEMERAL_KEY, as_of)
    result = walk.node(doc, "", plan.root, None)
    copy = result if isinstance(result, dict) else {}
    return Redacted(
        copy=copy,
        kept=tuple(sorted(walk.kept)),
        withheld=tuple(sorted(walk.withheld - walk.kept)),
        transformed=dict(sorted(walk.transformed.items())),
    )
