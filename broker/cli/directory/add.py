"""`broker directory add`: a new organisation appended to the directory, and what follows from it.

The entry is validated exactly as the file is at start (the new file's bytes through
``parse_directory``); an invalid one leaves the file unchanged and exits 2 naming the field and
the reason. What follows from the id: its principal ``recipient.<id>``, its delivery and
receipts topics, its encryption key and client certificate, and the ACLs; `--issue-keys`
creates the key and the certificate here with the same adapters `broker keys generate` and
`python -m broker.adapters.kafka.tls init` use.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from broker.cli._common import fail, out, settings

if TYPE_CHECKING:
    from broker.adapters.settings import Settings
    from broker.core.directory import Organisation


@dataclass(frozen=True)
class Added:
    """The organisation as the new directory has it, and the names that follow from it."""

    organisation: Organisation
    principal: str
    delivery_topic: str
    receipts_topic: str
    policy_version: str
    receives: bool  # some rule delivers to its role: it needs an encryption key


def add_organisation(s: Settings, entry: dict[str, str | bool | None]) -> Added:
    """Append ``entry`` to the directory under the policy directory's lock (PolicyError, and
    nothing written, if the new file would not be valid)."""
    from broker.adapters import directory_file
    from broker.adapters.policy_files import load_policy, read_policy_files
    from broker.core.deployment.acl import Principals
    from broker.core.directory import DIRECTORY_FILE
    from broker.core.directory_edit import added
    from broker.core.policy.load import policy_version

    with directory_file.locked(s.policy_dir):
        policy = load_policy(s.policy_dir)
        old = directory_file.read(s.policy_dir)
        where = str(directory_file.directory_file(s.policy_dir))
        new, directory = added(old, where, policy.recipients, entry)
        directory_file.replace(s.policy_dir, old, new)
    org = directory.organisations[str(entry["id"])]
    return Added(
        org,
        Principals.recipient(org.id),
        s.topics.delivery(directory.topics[org.id]),
        s.topics.receipts(org.id),
        policy_version({**read_policy_files(s.policy_dir), DIRECTORY_FILE: new}),
        org.kind in {r.recipient for r in policy.rules},
    )


@dataclass(frozen=True)
class Issued:
    """What `--issue-keys` created (None: not here)."""

    key: str | None = None  # the encryption key's id
    certificate: str | None = None  # the client certificate's file


def issue_keys(s: Settings, added: Added) -> Issued:
    """The organisation's encryption key (as `broker keys generate --recipient ID`) and, where
    this host holds the deployment's CA, its client certificate (as `tls init`)."""
    from broker.adapters.kafka.tls.credentials import Credentials, ca_key_file, ensure_credentials
    from broker.adapters.stores import keyfiles
    from broker.core.crypto.registry import KeyKind
    from broker.core.deployment.acl import Principals

    key = None
    if added.receives:
        now = datetime.now(UTC)
        key = keyfiles.ensure(s.key_paths(), KeyKind.recipient, added.organisation.id, now).key_id
    creds, certificate = s.kafka.credentials_dir, None
    if (creds / "ca.crt").is_file() and ca_key_file(creds).is_file():
        ensure_credentials(creds, [added.principal], server=Principals().node)
        certificate = str(Credentials(creds, added.principal).cert)
    return Issued(key, certificate)


def next_steps(s: Settings, added: Added, issued: Issued) -> list[str]:
    """The commands that give the organisation its key, certificate, topics and ACLs."""
    org = added.organisation
    steps = []
    if not added.receives:
        steps.append(
            f"no rule delivers to {org.kind} yet: it needs no encryption key until one does"
        )
    elif issued.key is None:
        steps.append(
            f"broker keys generate --recipient {org.id}   (the worker starts only once it has one)"
        )
    if issued.certificate is None:
        # tls init issues only the certificates that are missing
        steps.append(
            f"python -m broker.adapters.kafka.tls init {s.kafka.credentials_dir} "
            f"--policy-dir {s.policy_dir}"
        )
    steps.append(f"give the organisation clients/{added.principal}.* and ca.crt")
    steps.append("broker acl apply   (creates its topics and ACLs)")
    steps.append("restart the worker and the receipts relay (they read the directory at start)")
    return steps


Opt = typer.Option


def add(
    org_id: Annotated[str, Opt("--id", help="its id: key owner, principal recipient.<id>")],
    name: Annotated[str, Opt("--name", help="its name")],
    kind: Annotated[str, Opt("--kind", help="the recipient role it fills (recipients.yaml)")],
    district: Annotated[str | None, Opt("--district", help="its Oslo district")] = None,
    school_id: Annotated[
        str | None, Opt("--school-id", help="a school: the id notices name it by")
    ] = None,
    organisation_number: Annotated[
        str | None, Opt("--organisation-number", help="nine digits, where known")
    ] = None,
    example: Annotated[bool, Opt("--example", help="an invented entry")] = False,
    keys: Annotated[
        bool, Opt("--issue-keys", help="also create its encryption key and certificate here")
    ] = False,
) -> None:
    """Add an organisation to the directory (policies/directory.yaml) and say what follows."""
    from broker.core.errors import BrokerError

    s = settings()
    entry: dict[str, str | bool | None] = {
        "id": org_id,
        "name": name,
        "kind": kind,
        "school_id": school_id,
        "district": district,
        "organisation_number": organisation_number,
        "example": example,
    }
    added = add_organisation(s, entry)  # a PolicyError exits 2 naming the field
    out.print(f"added {org_id} to {s.policy_dir}/directory.yaml", highlight=False)
    for label, value in (
        ("principal", added.principal),
        ("delivery topic", added.delivery_topic),
        ("receipts topic", added.receipts_topic),
        ("policy version", added.policy_version),
    ):
        out.print(f"  {label + ':':16} {value}", highlight=False)
    issued = Issued()
    if keys:
        try:
            issued = issue_keys(s, added)
        except BrokerError as exc:
            fail(f"--issue-keys: {exc} (the directory entry is written)")
        if issued.key:
            out.print(f"  created encryption key {issued.key}", highlight=False)
        if issued.certificate:
            out.print(f"  created client certificate {issued.certificate}", highlight=False)
    out.print("next:")
    for step in next_steps(s, added, issued):
        out.print(f"  {step}", highlight=False)
