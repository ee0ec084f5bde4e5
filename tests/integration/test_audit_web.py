"""The auditors' page end to end: `broker audit serve` in a process, Debian's Chromium driven by
Playwright (explicit executable, no browser download), a screenshot saved."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.audit import testing as drill
from broker.pipeline import Pipeline, Source
from broker.policy import PolicySet
from broker.settings import Settings
from broker.store import AuditStore
from tests.conftest import ROOT, ce_headers, example

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = ROOT / "var" / "screenshots"
playwright = pytest.importorskip("playwright.sync_api")
SENT = datetime.now(UTC)  # this module's notices are sent now, on the real clock like the page's


@dataclasses.dataclass
class Site:
    url: str
    store: Path
    witness: list[drill.Checkpoint]
    records: list[dict[str, object]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, policy: PolicySet) -> Iterator[Site]:
    """A sealed store of real pipeline audit records, and the page serving it."""
    state = tmp_path_factory.mktemp("web-state")
    prefix = "web-test."
    settings = dataclasses.replace(Settings.from_env(), topic_prefix=prefix, state_dir=state)
    pipeline = Pipeline(policy, settings.topics, settings.subject_key())
    values: list[bytes] = []
    for n, name in enumerate(["recruited", "threat", "robbery"]):
        doc = example(name, SENT)
        result = pipeline.process(
            json.dumps(doc).encode(), ce_headers(doc, SENT), Source("n", 0, n)
        )
        values += [m.value for m in result.audit_records]
    key = Ed25519PrivateKey.generate()
    (state / "keys").mkdir(exist_ok=True)
    (state / "keys" / "audit-signing.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    log = drill.seal_all(values, key, every=5, origin=f"oslo-share-broker/{prefix}audit")
    (state / "audit").mkdir()
    (state / "audit" / f"{prefix}audit.witness.jsonl").write_bytes(
        b"".join(c.to_json() + b"\n" for c in log.witness)
    )
    store = state / "audit" / "audit.sqlite"
    with AuditStore.open(store) as st:
        st.add(log.entries)
    port = _free_port()
    env = {
        **os.environ,
        "BROKER_TOPIC_PREFIX": prefix,
        "BROKER_STATE_DIR": str(state),
    }
    for name in ("BROKER_AUDIT_STORE", "BROKER_AUDIT_WITNESS", "BROKER_AUDIT_KEY_FILE"):
        env.pop(name, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "broker", "audit", "serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            break
        except OSError:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "page did not come up"
            time.sleep(0.2)
    try:
        yield Site(url, store, log.witness, [json.loads(v) for v in values])
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (bash deploy/system-deps.sh)")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()


def test_the_page_shows_status_search_subject_report_and_chart(site: Site, browser: object) -> None:
    """An auditor sees a verified chain, finds the school's records, gets a person's report."""
    page = browser.new_page(viewport={"width": 1280, "height": 1100})  # type: ignore[attr-defined]
    page.goto(site.url)
    page.wait_for_selector("#chain-ok")
    assert f"{len(site.records)} of {len(site.records)} records sealed" in page.inner_text(
        "#status"
    )
    assert site.witness[-1].root_hash in page.inner_text("#status")

    page.fill("input[name=recipient]", "school")
    page.select_option("select[name=decision]", "deliver")
    page.click("#search-form button")
    expected = sum(
        1 for r in site.records if r.get("recipient") == "school" and r.get("outcome") == "deliver"
    )
    # expect() polls from Python: the page's CSP forbids the eval that wait_for_function needs
    playwright.expect(page.locator("#result-count")).to_have_text(re.compile(rf"^{expected} "))
    rows = page.locator("#results tbody tr")
    assert rows.count() >= 1
    assert all("school" in rows.nth(i).inner_text() for i in range(rows.count()))

    nid = example("recruited", SENT)["child"]["national_id"]
    page.fill("#national-id", nid)
    page.click("#subject-form button")
    page.wait_for_selector("#subject-table")
    ref = next(
        r["subject_ref"]
        for r in site.records
        if r.get("notice_id") == example("recruited", SENT)["notice_id"]
    )
    delivered = {
        r["recipient"]
        for r in site.records
        if r.get("subject_ref") == ref and r.get("outcome") == "deliver"
    }
    table = page.inner_text("#subject-table")
    assert all(str(r) in table for r in delivered)
    assert nid not in page.content()  # the input is cleared and the number never echoed

    page.wait_for_selector("#chart-body svg rect.bar")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / "auditor-page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000


def test_an_invalid_national_id_is_refused_with_the_reason(site: Site, browser: object) -> None:
    """The page names the field and the reason, and not the number."""
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(site.url)
    page.fill("#national-id", "12345678901")
    page.click("#subject-form button")
    page.wait_for_selector("#subject-body .bad")
    text = page.inner_text("#subject-body")
    assert text.startswith("national_id:")
    assert "12345678901" not in text


def test_the_page_reports_a_tampered_store(site: Site, browser: object, tmp_path: Path) -> None:
    """After one byte of record 6 changes in the store, the chain status names it."""
    backup = tmp_path / "store.sqlite"
    shutil.copy(site.store, backup)
    try:
        with AuditStore.open(site.store) as st:
            drill.store_edit_byte(st, 6, at=60)
        page = browser.new_page()  # type: ignore[attr-defined]
        page.goto(site.url)
        page.wait_for_selector("#chain-bad")
        assert "edited: record #6" in page.inner_text("#status")
    finally:
        shutil.copy(backup, site.store)
