"""Field labels for people: ``child.national_id`` is "barnets fødselsnummer" / "child's
national id number".

The labels and one-line descriptions live with the schema, in each notice model's field
metadata (``x-label`` in the JSON Schemas, broker.core.notice_parts.label); this reads them
from the models' JSON Schemas, so the page, the reports and the letters say what schemas/ says.
The codes records carry (notice types, decisions, a citation's status) are said in words here
too, through the message catalogue.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from broker.core.i18n import N_, Translator
from broker.core.notices import NOTICE_MODELS


@dataclass(frozen=True)
class FieldLabel:
    path: str  # without list markers: "guardians.name"
    labels: Mapping[str, str]  # language -> label
    description: str


def _resolve(node: Mapping[str, Any], defs: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in node:
        node = defs[node["$ref"].rsplit("/", 1)[-1]]
    for key in ("anyOf", "oneOf"):
        branches = [b for b in node.get(key, ()) if b.get("type") != "null"]
        if len(branches) == 1:
            return _resolve(branches[0], defs)
    if node.get("type") == "array" and "items" in node:
        return _resolve(node["items"], defs)
    return node


def _walk(
    node: Mapping[str, Any], defs: Mapping[str, Any], prefix: str
) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every property of the schema, with its own (unresolved) node that carries x-label."""
    for name, child in _resolve(node, defs).get("properties", {}).items():
        path = f"{prefix}.{name}" if prefix else name
        yield path, child
        yield from _walk(child, defs, path)


@cache
def field_labels() -> dict[str, FieldLabel]:
    """Every notice field's labels, by path (the first model that has a path names it)."""
    out: dict[str, FieldLabel] = {}
    for model in NOTICE_MODELS.values():
        schema = model.model_json_schema(mode="validation")
        for path, node in _walk(schema, schema.get("$defs", {}), ""):
            if path not in out:
                labels = node.get("x-label") or {}
                out[path] = FieldLabel(path, dict(labels), str(node.get("description", "")))
    return out


def field_label(path: str, lang: str) -> str:
    """The label of ``path`` (``risk.at_risk[]`` as ``risk.at_risk``) or, for a path no model
    has (a record older than the schema), of its longest labelled prefix; else the path."""
    parts = path.replace("[]", "").split(".")
    known = field_labels()
    for n in range(len(parts), 0, -1):
        found = known.get(".".join(parts[:n]))
        if found is not None and lang in found.labels:
            return found.labels[lang]
    return path


_NOTICE_TYPES = {
    "incident": N_("incident notice"),
    "risk": N_("risk notice"),
    "concern-report": N_("concern report"),
    "concern-feedback": N_("concern feedback"),
}
_STATUS = {
    "confirmed": N_("confirmed"),
    "guidance": N_("guidance"),
    "inferred": N_("inferred"),
}
_DECISIONS = {
    "deliver": N_("delivered"),
    "deny": N_("not shared"),
    "dead-letter": N_("rejected input"),
    "review": N_("reviewed"),
}


def notice_type_label(notice_type: str, t: Translator) -> str:
    """'incident' as 'hendelsesmelding'; an unknown type as written."""
    known = _NOTICE_TYPES.get(notice_type)
    return t.gettext(known) if known else notice_type


def citation_status(status: str, t: Translator) -> str:
    """How far a citation is established: 'confirmed' as 'bekreftet'."""
    known = _STATUS.get(status)
    return t.gettext(known) if known else status


def decision_label(decision: str, t: Translator) -> str:
    """An audit record's decision code ('deliver') in words ('utlevert')."""
    known = _DECISIONS.get(decision)
    return t.gettext(known) if known else decision


_ABOUT_THE_NOTICE = N_("about the notice")


def field_groups(paths: Iterable[str], t: Translator) -> list[dict[str, Any]]:
    """A long list of fields as people scan it: grouped by the part of the notice they belong
    to (the child, the guardians, the incident, …), in the order the parts first appear; a
    top-level field (the notice's reference, its purpose) under "about the notice". Each field
    by its label, with its path."""
    groups: dict[str, list[dict[str, str]]] = {}
    for path in paths:
        parts = path.replace("[]", "").split(".")
        key = parts[0] if len(parts) > 1 else ""
        groups.setdefault(key, []).append({"path": path, "label": field_label(path, t.lang)})
    return [
        {
            "label": field_label(key, t.lang) if key else t.gettext(_ABOUT_THE_NOTICE),
            "path": key,
            "fields": fields,
        }
        for key, fields in groups.items()
    ]
