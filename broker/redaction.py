"""Field-by-field redaction: a recipient's copy holds only the paths its rule releases.

Allow-list, never deny-list: a field added to a notice type later is withheld until a rule
names it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from broker.paths import covers


@dataclass(frozen=True)
class Redacted:
    copy: dict[str, object]
    kept: tuple[str, ...]
    withheld: tuple[str, ...]


def _redact(
    doc: object, prefix: str, allowed: tuple[str, ...], kept: set[str], withheld: set[str]
) -> object:
    if isinstance(doc, Mapping):
        out: dict[str, object] = {}
        for key, value in doc.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            sub = _redact(value, path, allowed, kept, withheld)
            if sub is not _DROP:
                out[key] = sub
        return out if out else _empty(doc, prefix, allowed)
    if isinstance(doc, list):
        items = [_redact(v, prefix + "[]", allowed, kept, withheld) for v in doc]
        kept_items = [i for i in items if i is not _DROP]
        return kept_items if kept_items else _empty(doc, prefix, allowed)
    if doc is None:
        return _DROP
    if any(covers(a, prefix) for a in allowed):
        kept.add(prefix)
        return doc
    withheld.add(prefix)
    return _DROP


_DROP = object()


def _empty(doc: object, prefix: str, allowed: tuple[str, ...]) -> object:
    # An empty object or list is shown only where released: even "no co-involved" says something.
    if not doc and prefix and any(covers(a, prefix) for a in allowed):
        return doc
    return _DROP


def redact(doc: Mapping[str, object], allowed: Iterable[str]) -> Redacted:
    """Copy ``doc`` keeping only leaves covered by an ``allowed`` path."""
    kept: set[str] = set()
    withheld: set[str] = set()
    result = _redact(doc, "", tuple(allowed), kept, withheld)
    copy = result if isinstance(result, dict) else {}
    return Redacted(copy=copy, kept=tuple(sorted(kept)), withheld=tuple(sorted(withheld - kept)))
