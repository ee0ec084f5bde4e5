"""`broker demo`'s step 6b: a disclosure opens its duty to inform, and a signed event closes it.

As the controller's office would: sync the audit topic into an auditor store of the demo's own,
list the open obligations (`broker audit obligations`), record that one delivery's child and
guardians were told by letter (`broker audit inform`, signed by the reviewer writer), sync
again, and show that obligation closed. Each step is the real command in a process of its own.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

from rich.console import Console

from broker.adapters.settings import Settings
from broker.core.i18n import Translator

INFORM = "inform-data-subject"


def _broker(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """`broker ARGS…` as its own process, wide enough that its tables do not wrap."""
    return subprocess.run(
        [sys.executable, "-m", "broker", *args],
        env={**settings.process_env(), "COLUMNS": "150"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def first_to_inform(audit: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first delivery whose record opened the duty to inform (None: no such delivery)."""
    return next((r for r in audit if INFORM in (r.get("duties") or [])), None)


def _row(output: str, record_id: str) -> str | None:
    return next((line for line in output.splitlines() if record_id[:16] in line), None)


def show(console: Console, settings: Settings, audit: list[dict[str, Any]], t: Translator) -> int:
    """Open, inform, closed: 0 if the chosen delivery's duty to inform shows closed after.
    The obligations table is the command's own (its state column a code: open, closed)."""
    record = first_to_inform(audit)
    if record is None:
        none = t.gettext("no delivery opened a duty to inform")
        console.print(f"[red]6b. {none}[/]")
        return 1
    rid = str(record["record_id"])
    store = str(settings.state_dir / "audit" / f"{settings.topic_prefix}audit.sqlite")
    steps = []
    for args in (
        ("audit", "sync", "--store", store),
        ("audit", "obligations", "--store", store),
        (
            "audit",
            "inform",
            "--store",
            store,
            "--record",
            rid,
            "--informed",
            "child,guardians",
            "--how",
            "letter",
            "--at",
            datetime.now(UTC).isoformat(),
        ),
        ("audit", "sync", "--store", store),
        ("audit", "obligations", "--store", store, "--all"),
    ):
        result = _broker(settings, *args)
        steps.append(result)
        if result.returncode != 0:
            failed = t.gettext("%(command)s failed:", command=f"broker {' '.join(args[:2])}")
            console.print(f"[red]{failed}[/]", highlight=False)
            console.print(result.stderr.strip() or result.stdout.strip(), highlight=False)
            return 1
    heading = t.gettext(
        "the duties disclosures opened (%(command)s), from the auditor store:",
        command="[bold]broker audit obligations[/]",
    )
    console.print(f"[bold]6b.[/] {heading}")
    console.print(steps[1].stdout.rstrip(), highlight=False)
    console.print(
        t.gettext(
            "the child and guardians of record %(record)s (%(organisation)s) told by letter "
            "(%(command)s, signed by the reviewer):",
            record=rid[:16],
            organisation=record.get("organisation"),
            command="[bold]broker audit inform[/]",
        )
    )
    console.print(steps[2].stdout.strip(), highlight=False)
    before, after = _row(steps[1].stdout, rid), _row(steps[4].stdout, rid)
    # the two lines tests and readers look for: "before:" and "after:" are the same in both
    console.print(
        t.gettext("before: %(before)s", before=before)
        + "\n"
        + t.gettext("after:  %(after)s", after=after),
        highlight=False,
        soft_wrap=True,  # one line each, however wide: readers and tests compare the two
    )
    if before is None or "open" not in before or after is None or "closed" not in after:
        stuck = t.gettext("the duty to inform did not go from open to closed")
        console.print(f"[red]{stuck}[/]")
        return 1
    return 0
