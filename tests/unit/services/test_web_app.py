"""The auditor page's guard, without TLS: the client certificate's CN is injected (``identify``)
as the TLS layer would give it. Host, Origin, Fetch Metadata, CSRF token, limits, headers, and
the access log of every view and lookup."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.adapters.stores import accesslog
from broker.adapters.stores.auditor import AuditStore
from broker.core import national_id
from broker.core.audit.checkpoint import trusted_keys
from broker.core.names import Names
from broker.services.web.app import Config, create_app
from broker.testing import audit as drill

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
HOST = "127.0.0.1:8087"
ORIGIN = f"https://{HOST}"
NID = national_id.synthetic(date(2012, 3, 4), 500)
CLOCK = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@dataclass
class Page:
    client: TestClient[Any, Any]
    config: Config
    log: Path

    def headers(self, cn: str | None = "auditor", **extra: str) -> dict[str, str]:
        h = {"Host": HOST, **extra}
        if cn is not None:
            h["X-Test-CN"] = cn
            h.setdefault("X-CSRF-Token", self.config.token(cn))
        return h

    def events(self) -> list[dict[str, Any]]:
        return accesslog.read(self.log)


def _cn(request: web.Request) -> str | None:
    return request.headers.get("X-Test-CN")


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[Page]:
    values = [drill.record_value(i, "school", f"skole-900{2 + i % 2}") for i in range(6)]
    log = drill.seal_all(values, KEY, every=3)
    store = tmp_path / "audit.sqlite"
    with AuditStore.open(store) as st:
        st.add(log.entries)
    access = accesslog.AccessLog(tmp_path / "access" / "web-access.jsonl")
    config = Config(
        store=str(store),
        trusted=trusted_keys(KEY.public_key()),
        origin=drill.ORIGIN,
        witness=lambda: log.witness,
        subject_ref=lambda number: f"hs256:{2:064x}" if number == NID else "hs256:none",
        hosts=frozenset({HOST, "localhost:8087"}),
        access=access.record,
        clock=lambda: CLOCK,
        identify=_cn,
        names=Names(
            recipients={"school": {"nb": "elevens skole", "en": "the pupil's school"}},
            organisations={"skole-9002": "Eksempelskolen"},
        ),
    )
    client: TestClient[Any, Any] = TestClient(TestServer(create_app(config)))
    await client.start_server()
    try:
        yield Page(client, config, access.path)
    finally:
        await client.close()
        access.close()


async def test_an_auditor_gets_the_page_and_it_is_logged(page: Page) -> None:
    r = await page.client.get("/", headers=page.headers("auditor.kari"))
    assert r.status == 200
    text = await r.text()
    assert page.config.token("auditor.kari") in text
    assert "<script>" not in text
    assert "style=" not in text
    [event] = page.events()
    assert event["event"] == "auditor-page-view"
    assert event["auditor"] == "auditor.kari"
    assert event["at"] == "2026-12-01T09:00:00.000000Z"


@pytest.mark.parametrize("cn", [None, "worker", "auditorx", "school", "auditor."])
async def test_anyone_but_an_auditor_is_refused(page: Page, cn: str | None) -> None:
    r = await page.client.get("/", headers=page.headers(cn))
    assert r.status == 403
    r = await page.client.get("/api/query", headers=page.headers(cn))
    assert r.status == 403
    assert {e["event"] for e in page.events()} == {"auditor-refused"}


@pytest.mark.parametrize("host", ["evil.example.com", "evil.example.com:8087", "127.0.0.1:9"])
async def test_a_foreign_host_is_refused(page: Page, host: str) -> None:
    """DNS rebinding: the request reaches 127.0.0.1 but names another host."""
    r = await page.client.get("/api/status", headers=page.headers(Host=host))
    assert r.status == 403
    assert (await r.json())["reason"] == "host not allowed"
    assert host not in page.log.read_text()  # a client-chosen value is not logged


async def test_a_post_needs_the_pages_own_origin(page: Page) -> None:
    body = '{"national_id": "' + NID + '"}'
    for origin in (None, "https://evil.example.com", "null", "http://127.0.0.1:8087"):
        h = page.headers(**({"Origin": origin} if origin else {}))
        r = await page.client.post("/api/subject", data=body, headers=h)
        assert r.status == 403, origin
        assert (await r.json())["reason"] == "origin not allowed"
    r = await page.client.post("/api/subject", data=body, headers=page.headers(Origin=ORIGIN))
    assert r.status == 200
    assert len((await r.json())["disclosures"]) == 1


async def test_a_cross_site_text_plain_post_is_refused(page: Page) -> None:
    """What a form or a no-cors fetch from another site can send: no token, text/plain."""
    h = {"Host": HOST, "X-Test-CN": "auditor", "Origin": ORIGIN, "Content-Type": "text/plain"}
    r = await page.client.post("/api/subject", data='{"national_id": "' + NID + '"}', headers=h)
    assert r.status == 403
    assert "X-CSRF-Token" in (await r.json())["reason"]
    h = page.headers(Origin=ORIGIN, **{"Sec-Fetch-Site": "cross-site"})
    r = await page.client.post("/api/subject", data='{"national_id": "' + NID + '"}', headers=h)
    assert r.status == 403
    assert not any(e["event"] == "auditor-subject-lookup" for e in page.events())


async def test_the_token_is_bound_to_the_auditor(page: Page) -> None:
    h = page.headers("auditor.kari", **{"X-CSRF-Token": page.config.token("auditor")})
    assert (await page.client.get("/api/chart", headers=h)).status == 403
    assert (await page.client.get("/api/chart", headers=page.headers("auditor.kari"))).status == 200


@pytest.mark.parametrize("limit", ["-1", "0", "1001", "x", "1e3"])
async def test_a_bad_limit_is_400_naming_the_parameter(page: Page, limit: str) -> None:
    r = await page.client.get(f"/api/query?limit={limit}", headers=page.headers())
    assert r.status == 400
    assert (await r.json())["field"] == "limit"


async def test_a_query_is_bounded_and_logged_with_its_parameters(page: Page) -> None:
    r = await page.client.get("/api/query?limit=4&recipient=school", headers=page.headers())
    assert r.status == 200
    assert len((await r.json())["records"]) == 4
    [event] = page.events()
    assert event["event"] == "auditor-query"
    assert event["query"] == {"limit": "4", "recipient": "school"}
    assert event["results"] == 4


async def test_a_query_selects_and_shows_the_organisation(page: Page) -> None:
    """Two schools fill one role: the organisation parameter tells them apart."""
    r = await page.client.get("/api/query?organisation=skole-9003", headers=page.headers())
    assert r.status == 200
    records = (await r.json())["records"]
    assert [(x["recipient"], x["organisation"]) for x in records] == [("school", "skole-9003")] * 3
    [event] = page.events()
    assert event["query"] == {"organisation": "skole-9003"}


async def test_a_subject_lookup_is_logged_by_keyed_reference_never_the_number(page: Page) -> None:
    r = await page.client.post(
        "/api/subject", json={"national_id": NID}, headers=page.headers(Origin=ORIGIN)
    )
    assert r.status == 200
    [event] = page.events()
    assert event["event"] == "auditor-subject-lookup"
    assert event["subject_ref"] == f"hs256:{2:064x}"
    assert NID not in page.log.read_text()


@pytest.mark.parametrize("path", ["/", "/api/status", "/static/page.js", "/nope"])
async def test_every_response_has_the_security_headers(page: Page, path: str) -> None:
    for headers in (page.headers(), page.headers(Host="evil.example.com")):
        r = await page.client.get(path, headers=headers)
        csp = r.headers["Content-Security-Policy"]
        assert "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert "script-src 'self'" in csp
        assert r.headers["X-Frame-Options"] == "DENY"
        assert r.headers["Server"] == "broker-audit"
        assert "aiohttp" not in str(r.headers).lower()
        assert "python" not in str(r.headers).lower()


async def test_the_status_reports_a_forged_column(page: Page) -> None:
    with AuditStore.open(page.config.store) as st:
        drill.store_edit_column(st, 4, "recipient", "salto")
    data = await (await page.client.get("/api/status", headers=page.headers())).json()
    assert data["ok"] is False
    assert data["fault"]["kind"] == "column-mismatch"
    assert data["fault"]["where"].startswith("record #4")
    r = await page.client.get("/api/query?recipient=salto", headers=page.headers())
    body = await r.json()
    assert body["records"] == []
    assert body["tampered"][0].startswith("record #4")


def test_the_access_log_is_private_append_only_and_chained(tmp_path: Path) -> None:
    path = tmp_path / "a" / "log.jsonl"
    log = accesslog.AccessLog(path)
    for n in range(3):
        log.record({"event": "x", "n": n})
    log.close()
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert accesslog.check(path) is None
    again = accesslog.AccessLog(path)  # reopened: the chain continues
    again.record({"event": "x", "n": 3})
    again.close()
    assert accesslog.check(path) is None
    lines = path.read_text().splitlines()
    lines[1] = lines[1].replace('"n":1', '"n":7')
    path.write_text("\n".join(lines) + "\n")
    assert accesslog.check(path) == 3


async def test_the_page_is_in_bokmal_and_switches_to_english(page: Page) -> None:
    """No ?lang: the service's language (bokmål); ?lang=en: English; the words of page.js come
    with the page, in the same language."""
    nb = await (await page.client.get("/", headers=page.headers())).text()
    assert '<html lang="nb">' in nb
    assert "Revisjonslogg — hvem fikk hva, når, og med hvilken hjemmel" in nb
    assert '"verified": "Kontrollert: %(verified)s av %(records)s poster forseglet"' in nb
    assert '<option value="nb" selected>Norsk bokmål</option>' in nb
    en = await (await page.client.get("/?lang=en", headers=page.headers())).text()
    assert '<html lang="en">' in en
    assert "Audit log — who received what, when, and under which law" in en
    assert "{{" not in nb + en  # every placeholder filled


async def test_an_unknown_language_is_400_naming_lang(page: Page) -> None:
    for api in ("chart", "query"):
        r = await page.client.get(f"/api/{api}?lang=sv", headers=page.headers())
        assert r.status == 400
        assert (await r.json())["field"] == "lang"


async def test_records_come_with_what_the_page_shows(page: Page) -> None:
    """Beside the codes and UTC times: Oslo time, the decision in words, field labels."""
    r = await page.client.get(
        "/api/query?limit=1&lang=nb&organisation=skole-9002", headers=page.headers()
    )
    [row] = (await r.json())["records"]
    assert row["recorded_at"].endswith("Z")
    assert " kl. " in row["shown"]["recorded"]
    assert row["shown"]["decision"] == "utlevert"
    assert {"path": "child.name", "label": "barnets navn"} in row["shown"]["fields"]
    assert row["shown"]["recipient"] == "elevens skole"
    assert row["shown"]["organisation"] == "Eksempelskolen"
    child = next(g for g in row["shown"]["groups"] if g["path"] == "child")
    assert child["label"] == "opplysninger om barnet"
    assert {"path": "child.name", "label": "barnets navn"} in child["fields"]
    r = await page.client.get(
        "/api/query?limit=1&lang=en&organisation=skole-9003", headers=page.headers()
    )
    [row] = (await r.json())["records"]
    assert row["shown"]["decision"] == "delivered"
    assert row["shown"]["organisation"] == "skole-9003"  # not in the names: its id
    assert row["shown"]["recipient"] == "the pupil's school"
    r = await page.client.get("/api/chart?lang=nb", headers=page.headers())
    series = (await r.json())["series"]
    assert series
    assert {(s["recipient"], s["recipient_name"]) for s in series} == {("school", "elevens skole")}
