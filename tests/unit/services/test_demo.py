"""`broker demo`'s last step: every input accounted for, or the demo fails."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from broker.adapters.locale import load_translator
from broker.adapters.policy_files import load_policy
from broker.services.demo import _Inputs, _show_balance
from tests.conftest import ROOT

POLICY = load_policy(ROOT / "policies")


def _outcomes(delivered: int) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """One valid notice decided for every recipient (the first ``delivered`` get it) and one
    dead letter; the deliveries as read back."""
    ids = sorted(POLICY.recipients)
    audit: list[dict[str, Any]] = [
        {"outcome": "deliver" if i < delivered else "deny"} for i in range(len(ids))
    ]
    audit.append({"outcome": None, "event": "dead-letter"})
    received: dict[str, list[dict[str, Any]]] = {r: [] for r in ids}
    for rid in ids[:delivered]:
        received[rid].append({})
    return audit, received


def test_a_balanced_run_passes() -> None:
    """Decisions, deliveries and dead letters add up: exit 0, 'ja' (bokmål) or 'yes'."""
    for lang, heading, yes in (("nb", "alle inndata gjort rede for", "ja"), ("en", "every", "yes")):
        console = Console(record=True, width=200)
        audit, received = _outcomes(delivered=2)
        code = _show_balance(
            console,
            POLICY,
            _Inputs(2, 1, 1),
            load_translator(lang),
            audit=audit,
            received=received,
            dead=[object()],
        )
        assert code == 0
        text = console.export_text()
        assert heading in text
        assert yes in text.split()


def test_a_lost_delivery_fails_the_demo() -> None:
    """A decision to deliver with no delivery read back: exit 1, 'NO'."""
    console = Console(record=True, width=200)
    audit, received = _outcomes(delivered=2)
    received[sorted(POLICY.recipients)[0]].clear()
    code = _show_balance(
        console,
        POLICY,
        _Inputs(2, 1, 1),
        load_translator("nb"),
        audit=audit,
        received=received,
        dead=[object()],
    )
    assert code == 1
    assert "NEI" in console.export_text()
