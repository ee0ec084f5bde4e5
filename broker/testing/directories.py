"""A copy of a policy directory whose organisations directory lists only some organisations:
a real-broker test with two schools and two districts probes every (principal, topic) pair
in seconds, where the shipped directory's 59 would take minutes."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

import yaml

from broker.core.directory import DIRECTORY_FILE

# Two schools in two districts, those districts' child welfare services, and the one
# organisation of each other role: what the examples' first two notices reach, and more.
TWO_SCHOOLS_TWO_DISTRICTS = (
    "skole-9001",  # Grorud
    "skole-9002",  # Frogner
    "bydel-grorud-barnevern",
    "bydel-frogner-barnevern",
    "bfe-barnevernvakta",
    "salto-oslo",
    "oslo-politidistrikt",
    "fritidsklubb-oslo",
)


# What the integration suite's brokers list: the two schools and two districts, and every
# other organisation the examples name (osloskolen-9003 in Søndre Nordstrand publishes a
# concern report; Alna is named too), so the examples route as with the shipped directory.
EXAMPLES_REACH = (
    *TWO_SCHOOLS_TWO_DISTRICTS,
    "skole-9003",
    "bydel-sondre-nordstrand-barnevern",
    "bydel-alna-barnevern",
)


def policy_dir_with(source: Path, dest: Path, organisations: Iterable[str]) -> Path:
    """``source`` copied to ``dest`` with only ``organisations`` left in its directory (each
    must be listed there: a typo fails here, not as a silent deny later)."""
    shutil.copytree(source, dest)
    path = dest / DIRECTORY_FILE
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    wanted = list(organisations)
    kept = [o for o in data["organisations"] if o["id"] in wanted]
    missing = sorted(set(wanted) - {o["id"] for o in kept})
    if missing:
        raise ValueError(f"not in {source / DIRECTORY_FILE}: {', '.join(missing)}")
    text = yaml.safe_dump({"organisations": kept}, allow_unicode=True, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return dest
