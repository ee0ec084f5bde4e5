"""Edits of the directory file as text: an organisation added, an organisation retired.

The file is reviewed by people and its comments say why entries are as they are, so it is never
dumped again from a parsed copy: an addition is appended as text, a retirement is a few lines
inserted at the end of its entry. Each edit is then validated exactly as the file is at start
(``parse_directory`` of the new bytes), and checked to have changed that one organisation and
nothing else; a PolicyError names the field and the reason, and the caller writes nothing.

Pure: bytes in, bytes and the new Directory out (broker.cli.directory writes the file).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date
from typing import Any

import yaml

from broker.core.directory import Directory, Organisation, parse_directory
from broker.core.errors import PolicyError
from broker.core.policy.model import Recipient

# a value written without quotes when YAML reads it back as the same string
_PLAIN = re.compile(r"[\w][\w .,()'/&-]*")
_ITEM = re.compile(r"^( *)- id:")
# the order the shipped file writes an entry's fields in
FIELDS = ("id", "name", "kind", "school_id", "district", "organisation_number", "example")


def _scalar(value: str | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if _PLAIN.fullmatch(value) and not value.endswith(" ") and yaml.safe_load(value) == value:
        return value
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a YAML double-quoted one


def _text(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise PolicyError(where, ["not UTF-8 text"]) from None


def added(
    data: bytes, where: str, roles: Mapping[str, Recipient], entry: Mapping[str, Any]
) -> tuple[bytes, Directory]:
    """The file with ``entry`` (field -> value, None: left out) appended to its list, and the
    directory it makes."""
    old = parse_directory(data, where, roles)
    text = _text(data, where)
    items = [m.group(1) for line in text.splitlines() if (m := _ITEM.match(line))]
    indent = items[-1] if items else "  "
    fields = [(k, entry[k]) for k in FIELDS if entry.get(k) not in (None, False)]
    lines = [
        f"{indent}{'- ' if i == 0 else '  '}{k}: {_scalar(v)}" for i, (k, v) in enumerate(fields)
    ]
    new_text = text + ("" if text.endswith("\n") or not text else "\n") + "\n".join(lines) + "\n"
    new_data = new_text.encode("utf-8")
    new = parse_directory(new_data, where, roles)
    org_id = str(entry.get("id"))
    wanted = Organisation.model_validate(dict(fields))
    if new.organisations.get(org_id) != wanted or not _only(old, new, org_id):
        raise PolicyError(
            where,
            ["the entry could not be appended to the file's organisations list: add it by hand"],
        )
    return new_data, new


def retired(
    data: bytes,
    where: str,
    roles: Mapping[str, Recipient],
    organisation: str,
    *,
    on: date,
    reason: str,
    successor: str | None = None,
) -> tuple[bytes, Directory]:
    """The file with ``organisation``'s entry marked retired ``on`` that day, for ``reason``,
    with its ``successor`` if any, and the directory it makes. Only lines are inserted."""
    old = parse_directory(data, where, roles)
    if organisation in old.retired:
        when = old.retired[organisation].retired
        raise PolicyError(where, [f"{organisation}: retired: already retired on {when}"])
    if organisation not in old.organisations:
        raise PolicyError(where, [f"{organisation}: id: not in the directory"])
    lines = _text(data, where).splitlines(keepends=True)
    at, indent = _end_of_entry(lines, organisation, where)
    added_lines = [
        f"retired: {on.isoformat()}",
        f"retired_reason: {json.dumps(reason.strip(), ensure_ascii=False)}",
    ]
    if successor is not None:
        added_lines.append(f"successor: {_scalar(successor)}")
    if at > 0 and not lines[at - 1].endswith("\n"):
        lines[at - 1] += "\n"
    lines[at:at] = [f"{indent}{line}\n" for line in added_lines]
    new_data = "".join(lines).encode("utf-8")
    new = parse_directory(new_data, where, roles)
    update = {"retired": on, "retired_reason": reason.strip(), "successor": successor}
    wanted = old.organisations[organisation].model_copy(update=update)
    if new.retired.get(organisation) != wanted or not _only(old, new, organisation):
        raise PolicyError(
            where, [f"{organisation}: its entry could not be edited: edit it by hand"]
        )
    return new_data, new


def _end_of_entry(lines: list[str], organisation: str, where: str) -> tuple[int, str]:
    """Where the entry ``- id: <organisation>`` ends (after its last field, before any blank
    or comment lines that lead into what follows) and the indent of its fields."""
    head = re.compile(rf"^( *)- id: *(['\"]?){re.escape(organisation)}\2 *(#.*)?$")
    found = [(i, m) for i, line in enumerate(lines) if (m := head.match(line.rstrip("\r\n")))]
    if len(found) != 1:
        raise PolicyError(
            where,
            [f"{organisation}: no block entry starting '- id: {organisation}': edit it by hand"],
        )
    start, match = found[0]
    dash = len(match.group(1))
    end = start + 1
    while end < len(lines):
        line = lines[end].rstrip("\r\n")
        if line.strip() and len(line) - len(line.lstrip(" ")) <= dash:
            break
        end += 1
    while end > start + 1 and _filler(lines[end - 1]):
        end -= 1
    return end, " " * (dash + 2)


def _filler(line: str) -> bool:
    """A blank or comment-only line: it belongs to what follows, not to the entry above."""
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def _only(old: Directory, new: Directory, organisation: str) -> bool:
    """Whether ``organisation`` is the only entry that differs between the two directories."""

    def rest(d: Directory) -> dict[str, Organisation]:
        every = {**d.organisations, **d.retired}
        every.pop(organisation, None)
        return every

    return rest(old) == rest(new)
