"""`broker audit serve`: the auditors' web page (broker.services.web), over mutual TLS."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from broker.cli._common import err, fail, names, settings
from broker.cli.audit._shared import (
    StoreOpt,
    TrustOpt,
    WitnessOpt,
    registry_of,
    trusted,
    witness_checkpoints,
)

if TYPE_CHECKING:
    import ssl

    from broker.adapters.settings import Settings
    from broker.adapters.stores.accesslog import AccessLog
    from broker.services.web.app import Config


def serve(
    host: Annotated[str, typer.Option(help="address to listen on (keep it local)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8087,
    store: StoreOpt = None,
    witness: WitnessOpt = None,
    trust: TrustOpt = None,
    credentials_dir: Annotated[
        Path | None,
        typer.Option(
            help="the CA and the page's certificate [default: $BROKER_KAFKA_CREDENTIALS_DIR]"
        ),
    ] = None,
    access_log: Annotated[
        Path | None,
        typer.Option(help="the page's own access log [default: state dir/audit/web-access.jsonl]"),
    ] = None,
) -> None:
    """The auditors' web page: search, subject report, chain status, disclosures chart.

    HTTPS only, and only for auditors: the browser must present a client certificate from the
    project CA whose CN is an auditor principal (`auditor` or `auditor.<name>`). The page's
    server certificate (audit-web) is issued from the same CA if missing. Every view, search
    and subject lookup is written to the access log (0600, append-only, hash-chained) before
    it is answered. Reads the auditor store (keep `broker audit sync` running or rerun it).
    """
    from aiohttp import web

    from broker.adapters.stores.accesslog import AccessLog
    from broker.services.web.app import create_app

    s = settings()
    key = s.subject_key()
    tls = _tls(credentials_dir or s.kafka.credentials_dir)
    log = AccessLog(access_log or s.state_dir / "audit" / "web-access.jsonl")
    config = _config(s, key, host, port, store, witness, trust, log)
    err.print(
        f"auditor page on https://{host}:{port}/ (store {config.store}; client certificate "
        f"required; access log {log.path})",
        highlight=False,
    )
    try:
        web.run_app(
            create_app(config),
            host=host,
            port=port,
            ssl_context=tls,
            print=None,
            access_log=None,
        )
    finally:
        log.close()


def _tls(creds: Path) -> ssl.SSLContext:
    """The page's server context; its certificate (audit-web) issued from the CA if missing."""
    from broker.adapters.kafka.tls.contexts import server_context
    from broker.adapters.kafka.tls.credentials import (
        WEB_SERVER,
        Credentials,
        ensure_web_credentials,
    )
    from broker.core.errors import ConfigError

    try:
        if ensure_web_credentials(creds):
            issued = Credentials(creds, WEB_SERVER).cert
            err.print(f"issued the page's certificate {issued}", highlight=False)
        return server_context(creds, WEB_SERVER)
    except ConfigError as exc:
        fail(str(exc))


def _config(
    s: Settings,
    key: bytes,
    host: str,
    port: int,
    store: str | None,
    witness: Path | None,
    trust: list[Path] | None,
    log: AccessLog,
) -> Config:
    """What the page receives: values and callables (it reads no settings, holds no key)."""
    from broker.adapters.stores.auditfiles import origin_of, store_target, witness_path
    from broker.core.crypto import refs
    from broker.services.web.app import Config

    wpath = witness or witness_path(s)
    hosts = {f"{host}:{port}", f"127.0.0.1:{port}", f"localhost:{port}"}
    if port == 443:
        hosts |= {host, "127.0.0.1", "localhost"}
    return Config(
        store=store or store_target(s),
        trusted=trusted(s, trust),
        origin=origin_of(s),
        witness=lambda: witness_checkpoints(wpath),
        subject_ref=lambda number: refs.subject_ref(key, number),
        hosts=frozenset(hosts),
        access=log.record,
        registry=lambda: registry_of(s),
        lang=s.lang,  # BROKER_LANG; the page switches with ?lang=
        names=names(s),
    )
