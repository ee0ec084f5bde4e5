"""``python -m broker.adapters.kafka.tls init DIR``: the CA and the certificates that are
missing, for every principal of the policy's recipients (kafka.sh runs it)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from broker.adapters.kafka.tls.credentials import (
    WEB_SERVER,
    ensure_credentials,
    ensure_web_credentials,
)
from broker.adapters.policy_files import load_policy
from broker.core.deployment.acl import Principals
from broker.core.errors import ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m broker.adapters.kafka.tls")
    sub = parser.add_subparsers(dest="command", required=True)
    init = sub.add_parser("init", help="create the CA and the certificates that are missing")
    init.add_argument("directory", type=Path)
    init.add_argument(
        "--policy-dir",
        type=Path,
        default=Path("policies"),
        help="recipients from this policies/ directory (default: ./policies)",
    )
    init.add_argument("--principal", action="append", default=[], help="an extra principal")
    args = parser.parse_args(argv)
    principals = Principals()
    recipients = load_policy(args.policy_dir).recipients
    names = principals.clients(recipients) + list(args.principal)
    try:
        created = ensure_credentials(args.directory, names, server=principals.node)
        if ensure_web_credentials(args.directory):
            created.append(WEB_SERVER)
    except ConfigError as exc:
        print(f"kafka_security: {exc}", file=sys.stderr)
        return 2
    if created:
        print(f"kafka_security: created {', '.join(created)} in {args.directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
