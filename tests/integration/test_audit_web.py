"""The auditors' page end to end: `broker audit serve` in a process over HTTPS with client
certificates from a CA of the test's own, Debian's Chromium driven by Playwright (explicit
executable, no browser download) with the auditor's certificate, screenshots saved."""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.adapters.kafka.tls.credentials import Credentials, ensure_credentials
from broker.adapters.locale import load_translator
from broker.adapters.settings import Settings
from broker.adapters.stores import accesslog, keyfiles
from broker.adapters.stores.auditor import AuditStore
from broker.core.audit import writers
from broker.core.audit.checkpoint import Checkpoint
from broker.core.audit.events import Entry
from broker.core.audit.events import ce_headers as ce_event_headers
from broker.core.crypto.registry import AUDIT_WRITERS, KeyKind
from broker.core.pipeline import Source
from broker.core.policy import PolicySet
from broker.testing import audit as drill
from broker.testing.fakes import ready_pipeline
from tests.conftest import ROOT, example

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = ROOT / "var" / "screenshots"
playwright = pytest.importorskip("playwright.sync_api")
SENT = datetime.now(UTC)  # this module's notices are sent now, on the real clock like the page's
OSLO_DAY = load_translator("nb").when(SENT).split(" kl. ")[0]  # "1. desember 2026"


@dataclasses.dataclass
class Site:
    url: str
    port: int
    store: Path
    witness: list[Checkpoint]
    records: list[dict[str, object]]
    credentials: Path
    access_log: Path

    def cert(self, principal: str = "auditor") -> dict[str, str]:
        """Playwright's client certificate for this site's origin."""
        creds = Credentials(self.credentials, principal)
        return {
            "origin": self.url.rstrip("/"),
            "certPath": str(creds.cert),
            "keyPath": str(creds.key),
        }

    def tls(self, principal: str | None = "auditor") -> ssl.SSLContext:
        """A Python client that checks the page's certificate against the CA."""
        ctx = ssl.create_default_context(cafile=str(self.credentials / "ca.crt"))
        if principal is not None:
            creds = Credentials(self.credentials, principal)
            ctx.load_cert_chain(str(creds.cert), str(creds.key))
        return ctx

    def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: str | None = None,
        principal: str | None = "auditor",
    ) -> tuple[int, str]:
        conn = http.client.HTTPSConnection(
            "127.0.0.1", self.port, context=self.tls(principal), timeout=10
        )
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.read().decode()
        finally:
            conn.close()


def _signed(settings: Settings, entries: list[Entry]) -> list[Entry]:
    """The log as its writers publish it: each message signed by the worker (records) or the
    sealer (checkpoints), with writer keys in this site's registry, as the page checks."""
    paths = settings.key_paths()
    for role in AUDIT_WRITERS:
        keyfiles.ensure(paths, KeyKind.audit_writer, role, SENT)
    registry = keyfiles.load_registry(paths.registry)
    worker = keyfiles.writer_key(paths, registry, writers.WORKER)
    sealer = keyfiles.writer_key(paths, registry, writers.SEALER)
    return [
        dataclasses.replace(
            e,
            headers=writers.sign(
                ce_event_headers(e.ce_type, f"m-{e.offset}", SENT),
                e.value,
                sealer if e.is_checkpoint else worker,
            ),
        )
        for e in entries
    ]


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
    ready = ready_pipeline(
        policy, now=SENT, topics=settings.topics, subject_key=settings.subject_key()
    )
    values: list[bytes] = []
    for n, name in enumerate(["recruited", "threat", "robbery"]):
        result = ready.process(example(name, SENT), source=Source("n", 0, n))
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
        st.add(_signed(settings, log.entries))
    credentials = state / "credentials"
    ensure_credentials(credentials, ["auditor", "auditor.kari", "worker"], server="kafka-node")
    port = _free_port()
    env = {
        **os.environ,
        "BROKER_TOPIC_PREFIX": prefix,
        "BROKER_STATE_DIR": str(state),
        "BROKER_KAFKA_CREDENTIALS_DIR": str(credentials),
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
    url = f"https://127.0.0.1:{port}/"
    site = Site(
        url,
        port,
        store,
        log.witness,
        [json.loads(v) for v in values],
        credentials,
        state / "audit" / "web-access.jsonl",
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "page did not come up"
            time.sleep(0.2)
    try:
        yield site
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


def _page(browser: object, site: Site, principal: str = "auditor", **options: Any) -> Any:
    """A page in a fresh context that holds ``principal``'s client certificate for the site.
    The page's server certificate is checked by the Python clients (site.tls); Chromium here
    does not know the test CA, so it is told to accept it."""
    context = browser.new_context(  # type: ignore[attr-defined]
        client_certificates=[site.cert(principal)], ignore_https_errors=True, **options
    )
    return context.new_page()


def _screenshot(page: Any, tmp_path: Path, name: str) -> Path:
    """A test artefact in tmp_path, and a copy under var/screenshots for people to look at."""
    shot = tmp_path / name
    page.screenshot(path=str(shot), full_page=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, SCREENSHOTS / name)
    return shot


def test_the_page_shows_status_search_subject_report_and_chart(
    site: Site, browser: object, tmp_path: Path, policy: PolicySet
) -> None:
    """An auditor with their certificate sees a verified chain, finds the school's records, gets
    a person's report, in bokmål: to whom by name, the law by name and section, the fields by
    label under the part of the notice they belong to (folded; opened by a click). Each view is
    in the access log under the certificate's CN."""
    before = len(accesslog.read(site.access_log)) if site.access_log.exists() else 0
    page = _page(browser, site, "auditor.kari", viewport={"width": 1280, "height": 1100})
    page.goto(site.url)
    page.wait_for_selector("#chain-ok")
    assert f"{len(site.records)} av {len(site.records)} poster forseglet" in page.inner_text(
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
    school = policy.recipients["school"].name.nb
    assert all(school in rows.nth(i).inner_text() for i in range(rows.count()))

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
    folded = page.inner_text("#subject-table")
    assert "barnets navn" not in folded  # the long lists are folded: how many, from which parts
    assert "opplysninger om barnet" in folded
    page.locator("#subject-table details summary").first.click()
    table = page.inner_text("#subject-table")
    assert all(policy.recipients[str(r)].name.nb in table for r in delivered)
    assert "formål: " in table  # why: the rule's purpose, in bokmål
    assert nid not in page.content()  # the input is cleared and the number never echoed

    page.wait_for_selector("#chart-body svg rect.bar")
    assert "auditor.kari" in page.inner_text("#whoami")
    # what a Norwegian reader sees: labels, the law by name and section, Oslo time
    assert "barnets navn" in table
    assert re.search(r"[A-ZÆØÅ][a-zæøå]+loven § [0-9-]+", table)
    assert OSLO_DAY in table
    assert "Utleveringer om deg" not in page.content()  # the page's words, not the report's title
    assert "Hjemmel" in page.inner_text("#search-form")
    shot = _screenshot(page, tmp_path, "auditor-page-nb.png")
    assert shot.stat().st_size > 10_000

    events = accesslog.read(site.access_log)[before:]
    assert {e["auditor"] for e in events} == {"auditor.kari"}
    kinds = [e["event"] for e in events]
    for kind in ("auditor-page-view", "auditor-status", "auditor-query", "auditor-chart"):
        assert kind in kinds
    lookups = [e for e in events if e["event"] == "auditor-subject-lookup"]
    assert [e["subject_ref"] for e in lookups] == [ref]
    assert nid not in site.access_log.read_text()
    assert accesslog.check(site.access_log) is None
    assert site.access_log.stat().st_mode & 0o777 == 0o600


def test_the_page_switches_to_english(site: Site, browser: object, tmp_path: Path) -> None:
    """The language select reloads the page in English: its words, the report's labels and
    the citation, dates as English readers write them."""
    page = _page(browser, site, viewport={"width": 1280, "height": 1100})
    page.goto(site.url)
    page.wait_for_selector("#chain-ok")
    page.select_option("#language", "en")
    page.wait_for_url(re.compile(r"\?lang=en$"))
    page.wait_for_selector("#chain-ok")
    assert page.get_attribute("html", "lang") == "en"
    assert "records sealed" in page.inner_text("#status")
    assert "who received what" in page.inner_text("h1")
    nid = example("recruited", SENT)["child"]["national_id"]
    page.fill("#national-id", nid)
    page.click("#subject-form button")
    page.wait_for_selector("#subject-table")
    page.locator("#subject-table details summary").first.click()
    table = page.inner_text("#subject-table")
    assert "child's name" in table
    assert "barnets navn" not in table
    assert "paragraph" in table or "§" in table
    assert load_translator("en").when(SENT).split(",")[0] in table  # "1 December 2026"
    playwright.expect(page.locator("#result-count")).to_have_text(re.compile(r" records?$"))
    page.wait_for_selector("#chart-body svg rect.bar")
    _screenshot(page, tmp_path, "auditor-page-en.png")


def test_an_invalid_national_id_is_refused_with_the_reason(site: Site, browser: object) -> None:
    """The page names the field and the reason, and not the number."""
    page = _page(browser, site)
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
        page = _page(browser, site)
        page.goto(site.url)
        page.wait_for_selector("#chain-bad")
        assert "edited: record #6" in page.inner_text("#status")
    finally:
        shutil.copy(backup, site.store)


def test_the_page_reports_a_forged_index_column(
    site: Site, browser: object, tmp_path: Path
) -> None:
    """Only record 4's recipient column is changed: the status names it, and a search for the
    forged recipient shows no record, only the warning."""
    backup = tmp_path / "store.sqlite"
    shutil.copy(site.store, backup)
    try:
        with AuditStore.open(site.store) as st:
            drill.store_edit_column(st, 4, "recipient", "forged-recipient")
        page = _page(browser, site)
        page.goto(site.url)
        page.wait_for_selector("#chain-bad")
        assert "column-mismatch: record #4" in page.inner_text("#status")
        page.fill("input[name=recipient]", "forged-recipient")
        page.click("#search-form button")
        playwright.expect(page.locator("#result-count")).to_have_text(re.compile(r"^0 "))
        assert "record #4" in page.inner_text("#search-body .tampered")
        _screenshot(page, tmp_path, "auditor-page-forged-column.png")
    finally:
        shutil.copy(backup, site.store)


def test_without_a_client_certificate_there_is_no_page(
    site: Site, browser: object, tmp_path: Path
) -> None:
    """Chromium without the credential gets no page: the TLS handshake requires a certificate."""
    context = browser.new_context(ignore_https_errors=True)  # type: ignore[attr-defined]
    page = context.new_page()
    with pytest.raises(playwright.Error):
        page.goto(site.url)
    _screenshot(page, tmp_path, "no-certificate.png")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        site.request("GET", "/", principal=None)


def test_a_certificate_that_is_not_an_auditors_is_refused(
    site: Site, browser: object, tmp_path: Path
) -> None:
    """The worker's certificate is from the same CA, but the worker is not an auditor."""
    page = _page(browser, site, "worker")
    response = page.goto(site.url)
    assert response is not None
    assert response.status == 403
    assert "auditor" in page.inner_text("body")
    _screenshot(page, tmp_path, "worker-certificate.png")


def test_a_foreign_host_header_is_refused(site: Site) -> None:
    """DNS rebinding: an auditor's browser reaching 127.0.0.1 under another name gets nothing."""
    status, body = site.request("GET", "/api/status", {"Host": "evil.example.com"})
    assert status == 403
    assert "host not allowed" in body
    assert "root_hash" not in body
    status, _ = site.request("GET", "/", {"Host": f"localhost:{site.port}"})
    assert status == 200


def test_a_cross_origin_post_is_refused(site: Site, browser: object, tmp_path: Path) -> None:
    """A page on another site, opened in the auditor's browser (which holds the certificate),
    POSTs text/plain to /api/subject: refused, and no lookup happens."""
    nid = example("recruited", SENT)["child"]["national_id"]
    evil = "http://evil.example.com/"
    script = (
        f"fetch({json.dumps(site.url + 'api/subject')}, {{method: 'POST', mode: 'no-cors', "
        f"credentials: 'include', headers: {{'Content-Type': 'text/plain'}}, "
        f"body: JSON.stringify({{national_id: {json.dumps(nid)}}})}})"
        ".then(() => document.title = 'sent', () => document.title = 'failed');"
    )
    html = f"<!doctype html><title>evil</title><p>hello</p><script>{script}</script>"
    context = browser.new_context(  # type: ignore[attr-defined]
        client_certificates=[site.cert()], ignore_https_errors=True
    )
    context.route(evil, lambda route: route.fulfill(body=html, content_type="text/html"))
    page = context.new_page()
    before = len(accesslog.read(site.access_log)) if site.access_log.exists() else 0
    page.goto(evil)
    playwright.expect(page).to_have_title(re.compile("sent|failed"))
    _screenshot(page, tmp_path, "cross-origin-post.png")
    events = accesslog.read(site.access_log)[before:]
    assert not any(e["event"] == "auditor-subject-lookup" for e in events)
    refused = [e for e in events if e["event"] == "auditor-refused"]
    assert [(e["path"], e["method"], e["auditor"]) for e in refused] == [
        ("/api/subject", "POST", "auditor")
    ], events
    # and the same POST outside a browser, with the page's own token but a foreign Origin
    status, body = site.request(
        "POST",
        "/api/subject",
        {"Origin": "https://evil.example.com", "Content-Type": "text/plain"},
        json.dumps({"national_id": nid}),
    )
    assert status == 403
    assert nid not in body


def test_the_page_sends_the_security_headers(site: Site) -> None:
    """No inline code allowed, no framing, no version banner."""
    conn = http.client.HTTPSConnection("127.0.0.1", site.port, context=site.tls(), timeout=10)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        response.read()
        headers = {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()
    assert "unsafe-inline" not in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["server"] == "broker-audit"
