"""The auditors' web page (`broker audit serve`): search, subject report, chain status, chart.

An aiohttp application over the auditor store. It is given everything it needs (where the store
is, the trusted keys, the witness, a function turning a national id into its keyed reference),
so it reads no settings and holds no key. It listens on 127.0.0.1 only by default: it shows
who received what about whom, so it is for auditors on the machine, not for the network.

The national id for the subject report is POSTed (never in a URL, so never in an access log)
and used only to compute the keyed reference; it is neither stored nor echoed back.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from broker import national_id
from broker.audit.checkpoint import Checkpoint
from broker.audit.report import subject_report
from broker.audit.verify import verify_log
from broker.store import AuditStore, Filters

DECISIONS = ("deliver", "deny", "dead-letter", "review")


@dataclass(frozen=True)
class Config:
    store: str
    trusted: Mapping[str, Ed25519PublicKey]
    origin: str
    witness: Callable[[], list[Checkpoint]]
    subject_ref: Callable[[str], str]


CONFIG = web.AppKey("config", Config)


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


def _row(d: Mapping[str, Any]) -> dict[str, Any]:
    basis = d.get("legal_basis") or {}
    return {
        "recorded_at": d.get("recorded_at"),
        "event": d.get("event"),
        "notice_id": d.get("notice_id"),
        "notice_type": d.get("notice_type"),
        "recipient": d.get("recipient"),
        "decision": d.get("outcome") or d.get("event"),
        "rule_id": d.get("rule_id"),
        "legal_basis": basis.get("id") if isinstance(basis, dict) else None,
        "fields_kept": d.get("fields_kept", []),
        "fields_withheld": d.get("fields_withheld", []),
        "review_required": bool(d.get("review_required")),
        "record_id": d.get("record_id"),
        "offset": d.get("_offset"),
    }


async def index(request: web.Request) -> web.Response:
    page = resources.files("broker.web").joinpath("page.html").read_text(encoding="utf-8")
    return web.Response(text=page, content_type="text/html")


async def api_query(request: web.Request) -> web.Response:
    q = request.query
    decision = q.get("decision") or None
    if decision is not None and decision not in DECISIONS:
        raise _bad("decision", f"must be one of {', '.join(DECISIONS)}")
    try:
        limit = min(int(q.get("limit", "200")), 5000)
    except ValueError:
        raise _bad("limit", "must be a whole number") from None
    f = Filters(
        recipient=q.get("recipient") or None,
        legal_basis=q.get("legal_basis") or None,
        decision=decision,
        notice_id=q.get("notice_id") or None,
        since=_time(q, "since"),
        until=_time(q, "until"),
        policy_version=q.get("policy_version") or None,
        limit=limit,
    )
    with AuditStore.open(request.app[CONFIG].store) as st:
        rows = [_row(d) for d in st.query(f)]
    return web.json_response({"records": rows})


async def api_subject(request: web.Request) -> web.Response:
    cfg = request.app[CONFIG]
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
    with AuditStore.open(cfg.store) as st:
        docs = st.query(Filters(subject_ref=cfg.subject_ref(number)))
    report = subject_report(docs, datetime.now(UTC))
    return web.json_response(json.loads(report.to_json()))


async def api_status(request: web.Request) -> web.Response:
    """Verify the store against its checkpoints and the witness, now."""
    cfg = request.app[CONFIG]
    with AuditStore.open(cfg.store) as st:
        report = verify_log(st.entries(), cfg.trusted, cfg.origin, cfg.witness())
    latest = report.latest
    return web.json_response(
        {
            "ok": report.ok,
            "fault": None
            if report.fault is None
            else {
                "kind": str(report.fault.kind),
                "where": report.fault.where(),
                "detail": report.fault.detail,
            },
            "records": report.records,
            "sealed": report.sealed,
            "unsealed": report.unsealed,
            "checkpoints": report.checkpoints,
            "witnessed": report.witnessed,
            "latest": None
            if latest is None
            else {
                "tree_size": latest.tree_size,
                "root_hash": latest.root_hash,
                "time": latest.time,
                "key_id": latest.key_id,
            },
        }
    )


async def api_chart(request: web.Request) -> web.Response:
    with AuditStore.open(request.app[CONFIG].store) as st:
        rows = st.disclosures_by_day()
    return web.json_response(
        {
            "series": [
                {"day": d, "recipient": r, "legal_basis": b, "count": n} for d, r, b, n in rows
            ]
        }
    )


@web.middleware
async def headers(request: web.Request, handler: Any) -> web.StreamResponse:
    response: web.StreamResponse = await handler(request)
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'"
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def create_app(config: Config) -> web.Application:
    app = web.Application(middlewares=[headers])
    app[CONFIG] = config
    app.router.add_get("/", index)
    app.router.add_get("/api/query", api_query)
    app.router.add_post("/api/subject", api_subject)
    app.router.add_get("/api/status", api_status)
    app.router.add_get("/api/chart", api_chart)
    return app
