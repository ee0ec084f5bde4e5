"""``python -m broker.adapters.kafka.tls init DIR``: the CA and the certificates that are
missing, for every principal: the broker's own and each organisation's in the directory
(kafka.sh runs it)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from broker.adapters.kafka.tls.credentials import (
    WEB_SERVER,
    ensure_credentials,
    ensure_web_credentials,
)
from broker.adapters.policy_files import load_directory, load_policy
from broker.core.deployment.acl import Principals
from broker.core.errors import BrokerError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m broker.adapters.kafka.tls")
    sub = parser.add_subparsers(dest="command", required=True)
    init = sub.add_parser("init", help="create the CA and the certificates that are missing")
    init.add_argument("directory", type=Path)
    init.add_argument(
        "--policy-dir",
        type=Path,
        default=Path("policies"),
        help="organisations from this policies/ directory (default: ./policies)",
    )
    init.add_argument("--principal", action="append", default=[], help="an extra principal")
    args = parser.parse_args(argv)
    principals = Principals()
    try:
        organisations = load_directory(load_policy(args.policy_dir)).organisations
        names = principals.clients(organisations) + list(args.principal)
        created = ensure_credentials(args.directory, names, server=principals.node)
        if ensure_web_credentials(args.directory):
            created.append(WEB_SERVER)
    except BrokerError as exc:  # a bad policy directory or credentials folder
        print(f"kafka_security: {exc}", file=sys.stderr)
        return 2
    if created:
        shown = ", ".join(created[:6]) + (
            f" and {len(created) - 6} more" if len(created) > 6 else ""
        )
        print(f"kafka_security: created {shown} in {args.directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
