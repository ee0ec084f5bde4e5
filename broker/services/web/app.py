"""The auditors' web page (`broker audit serve`): search, subject report, chain status, chart.

An aiohttp application over the auditor store. It is given everything it needs (where the store
is, the trusted keys, the witness, a function turning a national id into its keyed reference,
where to record accesses), so it reads no settings and holds no key.

It is for auditors only (docs/threat-model.md, "Auditor page"):

* HTTPS with mutual TLS (``broker.adapters.kafka.tls.contexts.server_context``): the TLS
  handshake requires a client certificate signed by the project CA, and ``guard`` admits only
  an auditor principal's (CN ``auditor`` or ``auditor.<name>``). Everyone else gets 403, or no
  connection at all.
* The Host header must be one of the configured host:port names (DNS rebinding), and a request
  Fetch Metadata marks as cross-site is refused.
* CSRF: a client certificate, like a cookie, is sent by the browser on cross-site requests too.
  Every ``/api/`` request must carry ``X-CSRF-Token``, an HMAC of the auditor's CN under a
  per-process secret, which the page receives in a meta tag; a cross-site page can neither read
  it nor set a custom header without a CORS preflight this app never answers. A POST must also
  carry an ``Origin`` that is the page's own (a browser always sends it on POST).
* The CSP allows scripts and styles from the app only (``/static/``), no inline code, and no
  framing (``frame-ancestors 'none'``, X-Frame-Options DENY); the Server header names no version.
* Every page view, search, subject lookup, status check and refusal is an access event
  (``Config.access``, broker/web/accesslog.py), recorded before the answer is sent.

The page is in the auditor's language: ``?lang=nb`` or ``?lang=en`` (a select on the page),
else the service's (``Config.lang``); the API answers carry the codes and UTC times of the
records, and beside them (``shown``) what the page shows: Oslo time, field labels, the law in
words (broker.services.web.strings has the page's own words).

The national id for the subject report is POSTed (never in a URL, so never in an access log)
and used only to compute the keyed reference; it is neither stored nor echoed back.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from broker.adapters.locale import load_translator
from broker.adapters.stores.auditor import AuditStore, Filters
from broker.core import national_id
from broker.core.audit.checkpoint import Checkpoint
from broker.core.audit.report import moment, shown, subject_report, summary
from broker.core.audit.verify import verify_log
from broker.core.crypto.registry import Registry
from broker.core.deployment.acl import is_auditor
from broker.core.i18n import DEFAULT_LANGUAGE, LanguageError, Translator
from broker.core.names import Names
from broker.core.times import utc_z
from broker.services.web import strings

DECISIONS = ("deliver", "deny", "dead-letter", "review")
MAX_LIMIT = 1000
QUERY_FIELDS = (
    "recipient",
    "organisation",
    "legal_basis",
    "decision",
    "notice_id",
    "since",
    "until",
    "policy_version",
    "limit",
)
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
STATIC = {"page.js": "text/javascript", "page.css": "text/css"}


def peer_cn(request: web.Request) -> str | None:
    """The CN of the client certificate the TLS handshake verified (None: no TLS, no cert)."""
    transport = request.transport
    cert = transport.get_extra_info("peercert") if transport is not None else None
    if not cert:
        return None
    for rdn in cert.get("subject", ()):
        for name, value in rdn:
            if name == "commonName":
                return str(value)
    return None


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Config:
    store: str
    trusted: Mapping[str, Ed25519PublicKey]
    origin: str  # the audit log's name in its checkpoints (not an HTTP origin)
    witness: Callable[[], list[Checkpoint]]
    subject_ref: Callable[[str], str]
    hosts: frozenset[str]  # Host header values accepted, e.g. "127.0.0.1:8087"
    access: Callable[[Mapping[str, Any]], None]  # records one access event, durably
    clock: Callable[[], datetime] = _now
    identify: Callable[[web.Request], str | None] = peer_cn
    # the key registry, to check who wrote each message (None: not checked, e.g. unit tests of
    # the page that build unsigned stores)
    registry: Callable[[], Registry] | None = None
    lang: str = DEFAULT_LANGUAGE  # the page's language without ?lang= (BROKER_LANG)
    translate: Callable[[str], Translator] = load_translator
    names: Names = field(default_factory=Names)  # recipients' and organisations' names
    secret: bytes = field(default_factory=lambda: os.urandom(32), repr=False)

    @property
    def origins(self) -> frozenset[str]:
        return frozenset(f"https://{h}" for h in self.hosts)

    def token(self, auditor: str) -> str:
        return hmac.new(self.secret, auditor.encode(), hashlib.sha256).hexdigest()


CONFIG = web.AppKey("config", Config)
AUDITOR = web.RequestKey("auditor", str)  # the admitted auditor's CN


def _access(request: web.Request, event: str, **what: Any) -> None:
    cfg = request.app[CONFIG]
    cfg.access(
        {
            "event": event,
            "at": utc_z(cfg.clock()),
            "auditor": request.get(AUDITOR),
            "method": request.method,
            "path": request.path,
            **what,
        }
    )


def _bad(field: str, reason: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(
        text=json.dumps({"field": field, "reason": reason}), content_type="application/json"
    )


def _time(q: Mapping[str, str], name: str) -> datetime | None:
    text = q.get(name, "").strip()
    if not text:
        return None
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise _bad(name, "not an ISO 8601 date or time") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _translator(request: web.Request) -> Translator:
    """The translator for ?lang=, else the service's language; 400 naming lang otherwise."""
    cfg = request.app[CONFIG]
    try:
        return cfg.translate(request.query.get("lang") or cfg.lang)
    except LanguageError as exc:
        raise _bad("lang", str(exc)) from None


def _row(d: Mapping[str, Any], t: Translator, names: Names) -> dict[str, Any]:
    basis = d.get("legal_basis") or {}
    return {
        "recorded_at": d.get("recorded_at"),
        "event": d.get("event"),
        "notice_id": d.get("notice_id"),
        "notice_type": d.get("notice_type"),
        "recipient": d.get("recipient"),
        "organisation": d.get("organisation"),
        "decision": d.get("outcome") or d.get("event"),
        "rule_id": d.get("rule_id"),
        "legal_basis": basis.get("id") if isinstance(basis, dict) else None,
        "fields_kept": d.get("fields_kept", []),
        "fields_withheld": d.get("fields_withheld", []),
        "review_required": bool(d.get("review_required")),
        "record_id": d.get("record_id"),
        "offset": d.get("_offset"),
        "shown": strings.record_shown(d, t, names),
    }


def _forbidden(reason: str) -> web.HTTPForbidden:
    return web.HTTPForbidden(text=json.dumps({"reason": reason}), content_type="application/json")


async def index(request: web.Request) -> web.Response:
    cfg = request.app[CONFIG]
    auditor = request[AUDITOR]
    t = _translator(request)
    page = resources.files("broker.services.web").joinpath("page.html").read_text(encoding="utf-8")
    page = strings.fill(page, t, cfg.token(auditor), auditor)
    _access(request, "auditor-page-view")
    return web.Response(text=page, content_type="text/html")


async def static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in STATIC:
        raise web.HTTPNotFound()
    text = resources.files("broker.services.web").joinpath(name).read_text(encoding="utf-8")
    return web.Response(text=text, content_type=STATIC[name])


def _limit(q: Mapping[str, str]) -> int:
    text = q.get("limit", "200").strip()
    try:
        limit = int(text)
    except ValueError:
        raise _bad("limit", f"must be a whole number from 1 to {MAX_LIMIT}") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise _bad("limit", f"must be a whole number from 1 to {MAX_LIMIT}")
    return limit


async def api_query(request: web.Request) -> web.Response:
    q = request.query
    t = _translator(request)
    decision = q.get("decision") or None
    if decision is not None and decision not in DECISIONS:
        raise _bad("decision", f"must be one of {', '.join(DECISIONS)}")
    f = Filters(
        recipient=q.get("recipient") or None,
        organisation=q.get("organisation") or None,
        legal_basis=q.get("legal_basis") or None,
        decision=decision,
        notice_id=q.get("notice_id") or None,
        since=_time(q, "since"),
        until=_time(q, "until"),
        policy_version=q.get("policy_version") or None,
        limit=_limit(q),
    )
    with AuditStore.open(request.app[CONFIG].store) as st:
        docs = st.query(f)
    asked = {k: q[k][:200] for k in QUERY_FIELDS if q.get(k)}
    _access(request, "auditor-query", query=asked, results=len(docs), tampered=len(docs.tampered))
    return web.json_response(
        {
            "records": [_row(d, t, request.app[CONFIG].names) for d in docs],
            "tampered": [x.where() for x in docs.tampered],
        }
    )


async def api_subject(request: web.Request) -> web.Response:
    cfg = request.app[CONFIG]
    t = _translator(request)
    try:
        body = await request.json()
    except ValueError:
        raise _bad("body", "must be JSON") from None
    number = body.get("national_id") if isinstance(body, dict) else None
    if not isinstance(number, str):
        raise _bad("national_id", "required")
    try:
        number = national_id.validate(number.strip())
    except ValueError as exc:
        raise _bad("national_id", str(exc)) from None
    ref = cfg.subject_ref(number)
    with AuditStore.open(cfg.store) as st:
        docs = st.query(Filters(subject_ref=ref))
    _access(
        request,
        "auditor-subject-lookup",
        subject_ref=ref,
        results=len(docs),
        tampered=len(docs.tampered),
    )
    made = subject_report(docs, cfg.clock())
    report = json.loads(made.to_json())
    report["tampered"] = [x.where() for x in docs.tampered]
    report["shown"] = [shown(d, t, request.app[CONFIG].names) for d in made.disclosures]
    report["summary"] = summary(made, t)
    return web.json_response(report)


async def api_status(request: web.Request) -> web.Response:
    """Verify the store against its checkpoints and the witness, and its columns, now."""
    cfg = request.app[CONFIG]
    t = _translator(request)
    with AuditStore.open(cfg.store) as st:
        # the unsealed tail is shown as such, never counted as verified; callables, so that a
        # fault the first pass cannot place gets a second pass that names its record
        report = verify_log(
            st.entries,
            cfg.trusted,
            cfg.origin,
            cfg.witness,
            allow_unsealed=True,
            registry=cfg.registry() if cfg.registry is not None else None,
        )
        tampered = st.column_faults()
    latest = report.latest
    fault: dict[str, Any] | None = None
    if report.fault is not None:
        fault = {
            "kind": str(report.fault.kind),
            "where": report.fault.where(),
            "detail": report.fault.detail,
        }
    elif report.unattributed:
        first = report.unattributed[0]
        fault = {
            "kind": str(first.kind),
            "where": first.where(),
            "detail": f"{first.detail} ({report.unattributed_count} message(s) in all)",
        }
    elif tampered:
        fault = {
            "kind": "column-mismatch",
            "where": tampered[0].where(),
            "detail": f"stored column(s) {', '.join(tampered[0].columns)} disagree with the "
            f"record's bytes ({len(tampered)} row(s) in all)",
        }
    _access(request, "auditor-status", ok=fault is None)
    return web.json_response(
        {
            "ok": fault is None,
            "fault": fault,
            "records": report.records,
            "sealed": report.sealed,
            "verified": report.verified,  # sealed and signed by an entitled writer
            "unattributed": report.unattributed_count,
            "writers_checked": cfg.registry is not None,
            "unsealed": report.unsealed,
            "checkpoints": report.checkpoints,
            "witnessed": report.witnessed,
            "latest": None if latest is None else latest.summary(),
            "latest_time": None if latest is None else moment(latest.time, t),
        }
    )


async def api_chart(request: web.Request) -> web.Response:
    cfg, t = request.app[CONFIG], _translator(request)
    with AuditStore.open(cfg.store) as st:
        rows = st.disclosures_by_day()
    _access(request, "auditor-chart", results=len(rows))
    series = [
        {
            "day": d,
            "recipient": r,
            "recipient_name": cfg.names.recipient(r, t.lang),
            "legal_basis": b,
            "count": n,
        }
        for d, r, b, n in rows
    ]
    return web.json_response({"series": series})


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _refuse(request: web.Request, reason: str, auditor: str | None = None) -> web.HTTPForbidden:
    _access(request, "auditor-refused", reason=reason, refused_cn=auditor)
    return _forbidden(reason)


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Host, client certificate, Fetch Metadata, Origin and CSRF token, before any handler."""
    cfg = request.app[CONFIG]
    if request.headers.get("Host", "") not in cfg.hosts:
        raise _refuse(request, "host not allowed", cfg.identify(request))
    cn = cfg.identify(request)
    if cn is None or not is_auditor(cn):
        raise _refuse(request, "an auditor's client certificate is required", cn)
    request[AUDITOR] = cn
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        raise _refuse(request, "cross-site request")
    if request.method not in ("GET", "HEAD") and request.headers.get("Origin") not in cfg.origins:
        raise _refuse(request, "origin not allowed")
    if request.path.startswith("/api/"):
        token = request.headers.get("X-CSRF-Token", "")
        if not hmac.compare_digest(token.encode(), cfg.token(cn).encode()):
            raise _refuse(request, "missing or wrong X-CSRF-Token")
    return await handler(request)


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every response, errors included: the CSP, no framing, no caching, no version banner."""
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    response.headers["Server"] = "broker-audit"


def create_app(config: Config) -> web.Application:
    app = web.Application(middlewares=[guard])
    app[CONFIG] = config
    app.on_response_prepare.append(_headers)
    app.router.add_get("/", index)
    app.router.add_get("/static/{name}", static)
    app.router.add_get("/api/query", api_query)
    app.router.add_post("/api/subject", api_subject)
    app.router.add_get("/api/status", api_status)
    app.router.add_get("/api/chart", api_chart)
    return app
