"""Field paths: how policies name parts of a notice.

A path is dotted, with ``[]`` for "every element of a list": ``child.name``,
``guardians[].phone``, ``incident.co_involved[].age``. A path naming an object or a list
covers everything beneath it. Paths are derived from the models' JSON Schema, so a policy
naming a field the notice type does not have is caught when the policy is loaded.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

from pydantic import BaseModel


def _resolve(node: Mapping[str, Any], defs: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in node:
        node = defs[node["$ref"].rsplit("/", 1)[-1]]
    for key in ("anyOf", "oneOf"):
        if key in node:  # Optional[X] is anyOf [X, null]: follow the non-null branch
            branches = [b for b in node[key] if b.get("type") != "null"]
            if len(branches) == 1:
                return _resolve(branches[0], defs)
    return node


def _walk(node: Mapping[str, Any], defs: Mapping[str, Any], prefix: str) -> Iterator[str]:
    node = _resolve(node, defs)
    if "properties" in node:
        for name, child in node["properties"].items():
            path = f"{prefix}.{name}" if prefix else name
            yield path
            yield from _walk(child, defs, path)
    elif node.get("type") == "array" and "items" in node:
        yield from _walk(node["items"], defs, prefix + "[]")


def _kind(node: Mapping[str, Any]) -> str:
    if "properties" in node:
        return "object"
    if "enum" in node or "const" in node:
        return "enum"
    kind = str(node.get("type", "any"))
    fmt = node.get("format")
    return fmt if kind == "string" and fmt in ("date", "date-time", "uuid") else kind


def _walk_kinds(
    node: Mapping[str, Any], defs: Mapping[str, Any], prefix: str
) -> Iterator[tuple[str, str]]:
    node = _resolve(node, defs)
    if "properties" in node:
        for name, child in node["properties"].items():
            path = f"{prefix}.{name}" if prefix else name
            yield path, _kind(_resolve(child, defs))
            yield from _walk_kinds(child, defs, path)
    elif node.get("type") == "array" and "items" in node:
        items = _resolve(node["items"], defs)
        if "properties" not in items:  # a list of plain values: name the elements' kind
            yield prefix + "[]", _kind(items)
        yield from _walk_kinds(node["items"], defs, prefix + "[]")


@cache
def schema_kinds(model: type[BaseModel]) -> dict[str, str]:
    """Path -> kind of value: object, array, string, date, date-time, uuid, integer, number,
    boolean, enum. Lets the policy loader refuse an operator that cannot apply to a field."""
    schema = model.model_json_schema()
    return dict(_walk_kinds(schema, schema.get("$defs", {}), ""))


@cache
def schema_paths(model: type[BaseModel]) -> frozenset[str]:
    """Every path (objects, lists and leaves) a model's documents can contain."""
    schema = model.model_json_schema()
    return frozenset(_walk(schema, schema.get("$defs", {}), ""))


def covers(allowed: str, path: str) -> bool:
    """True if ``allowed`` names ``path`` itself or an object or list that contains it."""
    return path == allowed or path.startswith((allowed + ".", allowed + "[]"))


def leaves(doc: object, prefix: str = "") -> Iterator[tuple[str, object]]:
    """(path, value) for every leaf value in a JSON document; list indices become ``[]``.

    None values are skipped: an absent field is neither released nor withheld.
    """
    if isinstance(doc, Mapping):
        for key, value in doc.items():
            yield from leaves(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(doc, list):
        for item in doc:
            yield from leaves(item, prefix + "[]")
    elif doc is not None:
        yield prefix, doc
