"""The example notices shipped with the package (invented children, synthetic national id
numbers): the demo publishes them, local keys are made for the units that issue them, and
tests and benchmarks build notices from them. The police's are here, the other senders' in
``other-senders/``, and notices that must be refused in ``invalid/``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from broker.core.notices import NOTICE_SENDERS

EXAMPLES = Path(__file__).resolve().parent
# The organisation (policies/directory.yaml) each example unit publishes for: a police unit for
# Oslo's police district, a school as itself, a district's child welfare service as itself.
EXAMPLE_ORGANISATIONS = {
    "oslo-pd-ost": "oslo-politidistrikt",
    "oslo-pd-syd": "oslo-politidistrikt",
    "osloskolen-9003": "skole-9003",
    "bydel-grorud-barnevern": "bydel-grorud-barnevern",
}
OTHER_SENDERS = EXAMPLES / "other-senders"
INVALID = EXAMPLES / "invalid"


def valid() -> list[Path]:
    """The valid examples: the police's, then the other senders'."""
    return sorted(EXAMPLES.glob("*.json")) + sorted(OTHER_SENDERS.glob("*.json"))


def invalid() -> list[Path]:
    return sorted(INVALID.glob("*.json"))


def templates() -> list[dict[str, Any]]:
    """The police's examples as documents, to build more notices from."""
    return [_read(p) for p in sorted(EXAMPLES.glob("*.json"))]


def example_units() -> dict[str, str]:
    """Every issuing unit in the examples (invalid ones included) → its sender class, from the
    types of the notices it issues (incident, risk: police; concern-report: school;
    concern-feedback: child-welfare). A unit whose notices span two classes is an error."""
    units: dict[str, set[str]] = {}
    for d in (_read(p) for p in sorted(EXAMPLES.rglob("*.json"))):
        sender = NOTICE_SENDERS.get(d.get("notice_type", ""))
        if isinstance(d.get("issuer"), dict) and sender is not None:
            units.setdefault(d["issuer"]["unit_id"], set()).add(sender)
    mixed = sorted(u for u, senders in units.items() if len(senders) > 1)
    if mixed:
        raise ValueError(f"examples: units issue notices of two sender classes: {mixed}")
    return {u: next(iter(senders)) for u, senders in sorted(units.items())}


def example_organisation(unit: str) -> str:
    """The organisation an example unit's key is bound to; a unit the examples do not name is
    its own organisation (which the directory will not list: its notices are refused)."""
    return EXAMPLE_ORGANISATIONS.get(unit, unit)


def _read(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc
