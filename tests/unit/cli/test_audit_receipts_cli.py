"""`broker audit receipt` and `broker audit access`: receipts by organisation, checked against
the directory before anything is sent; the access log names and filters by organisation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner, Result

from broker.adapters.stores.auditor import AuditStore
from broker.cli.audit import app
from broker.core.audit.access import State, audit_event, receipt
from broker.core.audit.events import canonical
from broker.core.directory import Organisation
from broker.testing import audit as drill

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
ALNA = Organisation(id="bydel-alna-barnevern", name="Bydel Alna", kind="child-welfare")
SCHOOL = Organisation(id="skole-9002", name="Vestre Lindeløkka skole", kind="school")


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setenv("BROKER_BOOTSTRAP", "127.0.0.1:1")  # nothing may reach a broker


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def test_a_receipt_names_an_organisation_of_the_directory() -> None:
    """An unknown organisation is refused naming the option, before anything is sent; a role
    given instead is answered with organisations that fill it."""
    unknown = _invoke("receipt", "d-1", "--organisation", "newspaper")
    assert unknown.exit_code == 2
    assert "--organisation: 'newspaper' is not in the directory" in unknown.stderr
    role = _invoke("receipt", "d-1", "--organisation", "child-welfare")
    assert role.exit_code == 2
    assert "'child-welfare' is a recipient role" in role.stderr
    assert "bydel-alna-barnevern" in role.stderr
    missing = _invoke("receipt", "d-1")
    assert missing.exit_code == 2
    assert "--organisation" in missing.stderr


def _delivered(i: int, organisation: Organisation) -> bytes:
    value = drill.record_value(i, organisation.kind, organisation.id)
    return canonical(json.loads(value) | {"delivery_id": f"delivery-{i:04d}"})


def test_access_shows_and_filters_by_organisation(tmp_path: Path) -> None:
    """What did Bydel Alna receive: its deliveries only, with the organisation column."""
    opened = receipt("delivery-0001", State.opened, drill.T0)[1]
    values = [
        _delivered(0, SCHOOL),
        _delivered(1, ALNA),
        audit_event(opened, ALNA, "receipts.bydel-alna-barnevern/0/0", drill.T0)[1],
    ]
    store = tmp_path / "audit.sqlite"
    with AuditStore.open(store) as st:
        st.add(drill.seal_all(values, KEY, every=5).entries)
    every = _invoke("access", "--store", str(store))
    assert every.exit_code == 0, every.stderr
    assert "organisation" in every.stdout
    assert "skole-9002" in every.stdout
    alna = _invoke("access", "--store", str(store), "--organisation", "bydel-alna-barnevern")
    assert alna.exit_code == 0, alna.stderr
    (row,) = [line for line in alna.stdout.splitlines() if "delivery-0001" in line]
    assert "bydel-alna-barnevern" in row
    assert "opened" in row
    assert "skole-9002" not in alna.stdout
    assert "1 delivery(ies)" in alna.stdout
