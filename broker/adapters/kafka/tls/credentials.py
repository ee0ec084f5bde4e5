"""The secure profile's credentials directory: where each principal's key material lives.

The directory (0755) keeps apart what different processes need, so a client is given
(mounted) its own folder and ``ca.crt``, never the CA's key or a super user's:

    ca.crt                              the CA certificate (public, 0644): every party trusts it
    ca/ca.key                           the CA's key: only `init` (issuing certificates) reads it
    nodes/kafka-node.*                  the Kafka broker's own (server, inter-broker; super user)
    admin/admin.*                       the operator's super user (kafka.sh probes, `broker acl`)
    clients/<name>.*                    every other principal: worker, publishers, recipients…

with, per principal: ``<name>.crt`` and ``<name>.key`` (PKCS#8; Python clients),
``<name>.keystore.pem`` (key + certificate, Java: ssl.keystore.location) and
``<name>.properties`` (Java client properties, paths only). Folders holding a key are 0700,
keys and key stores 0600, all written with O_EXCL. A directory in the flat layout of earlier
versions (``ca.key`` beside ``ca.crt``) is moved into this one by ``init``.

The auditor page (`broker audit serve`) uses the same CA: it serves HTTPS with ``audit-web``'s
certificate (``clients/audit-web.*``, for localhost and 127.0.0.1). No secret is ever logged or
put in an error message: errors name the file, never its content.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from broker.core.deployment.acl import Principals, check_principal
from broker.core.deployment.certificates import issue, make_ca
from broker.core.errors import ConfigError

# The auditor page's server certificate: loopback only.
WEB_SERVER = "audit-web"
WEB_DNS = ("localhost",)
WEB_IPS = ("127.0.0.1",)

CA_FOLDER = "ca"
FOLDERS = {Principals().node: "nodes", Principals().admin: "admin"}  # the super users
CLIENT_FOLDER = "clients"


def ca_key_file(directory: Path) -> Path:
    return directory / CA_FOLDER / "ca.key"


@dataclass(frozen=True)
class Credentials:
    """Where one principal's files are."""

    directory: Path
    principal: str

    @property
    def folder(self) -> Path:
        return self.directory / FOLDERS.get(self.principal, CLIENT_FOLDER)

    @property
    def ca(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def cert(self) -> Path:
        return self.folder / f"{self.principal}.crt"

    @property
    def key(self) -> Path:
        return self.folder / f"{self.principal}.key"

    @property
    def keystore(self) -> Path:
        return self.folder / f"{self.principal}.keystore.pem"

    @property
    def java_properties(self) -> Path:
        return self.folder / f"{self.principal}.properties"


def java_client_properties(creds: Credentials) -> str:
    """Java client settings (Ready.java, kafka tools) for one principal: paths, no secrets."""
    return (
        "security.protocol=SSL\n"
        "ssl.keystore.type=PEM\n"
        f"ssl.keystore.location={creds.keystore}\n"
        "ssl.truststore.type=PEM\n"
        f"ssl.truststore.location={creds.ca}\n"
    )


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``mode`` from the start (never widened later); fail if it exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _write_group(files: dict[Path, tuple[bytes, int]]) -> None:
    """Write files that belong together; a half-written set is removed rather than kept."""
    written: list[Path] = []
    try:
        for path, (data, mode) in files.items():
            _write_new(path, data, mode)
            written.append(path)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise


def _private_folder(path: Path) -> None:
    path.mkdir(exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)


_SUFFIXES = (".keystore.pem", ".properties", ".crt", ".key")


def _migrate_flat(directory: Path) -> list[str]:
    """Move a flat directory (every file beside ca.crt, as earlier versions wrote it) into the
    folders: same file system, so each move is a rename. Java properties hold paths: they are
    removed here and written again. Returns the principals moved."""
    old_ca_key = directory / "ca.key"
    if not old_ca_key.exists():
        return []
    _private_folder(directory / CA_FOLDER)
    if ca_key_file(directory).exists():
        raise ConfigError(
            f"{old_ca_key} and {ca_key_file(directory)} both exist: keep the one that signed "
            f"{directory / 'ca.crt'} and delete the other"
        )
    os.rename(old_ca_key, ca_key_file(directory))
    moved: list[str] = []
    for path in sorted(directory.iterdir()):
        suffix = next((s for s in _SUFFIXES if path.name.endswith(s)), None)
        if not path.is_file() or suffix is None or path.name == "ca.crt":
            continue
        name = path.name.removesuffix(suffix)
        try:
            creds = Credentials(directory, check_principal(name))
        except ConfigError:
            continue  # not a principal's file: left where it is
        if suffix == ".properties":
            path.unlink()
            continue
        _private_folder(creds.folder)
        os.rename(path, creds.folder / path.name)
        if name not in moved:
            moved.append(name)
    return moved


def _ensure_ca(directory: Path, now: dt.datetime) -> bool:
    """The CA's certificate and key, created if there is no ``ca.crt``; whether it was."""
    ca_cert, ca_key = directory / "ca.crt", ca_key_file(directory)
    _private_folder(ca_key.parent)
    if not ca_cert.exists():
        key_pem, cert_pem = make_ca(now)
        _write_group({ca_key: (key_pem, 0o600), ca_cert: (cert_pem, 0o644)})
        return True
    if not ca_key.exists():
        raise ConfigError(f"{ca_key} is missing (needed to issue certificates); remove {ca_cert}")
    return False


def _ensure_principal(
    creds: Credentials, ca_key_pem: bytes, ca_cert_pem: bytes, now: dt.datetime, *, server: bool
) -> bool:
    """One principal's key, certificate, key store and properties, issued unless all are there
    (a partial set is replaced); whether they were issued."""
    _private_folder(creds.folder)
    if creds.cert.exists() and creds.key.exists() and creds.keystore.exists():
        if not creds.java_properties.exists():  # removed when moved from the flat layout
            _write_new(creds.java_properties, java_client_properties(creds).encode(), 0o600)
        return False
    for stale in (creds.cert, creds.key, creds.keystore, creds.java_properties):
        stale.unlink(missing_ok=True)
    key_pem, cert_pem = issue(ca_key_pem, ca_cert_pem, creds.principal, now, server=server)
    _write_group(
        {
            creds.key: (key_pem, 0o600),
            creds.cert: (cert_pem, 0o644),
            creds.keystore: (key_pem + cert_pem, 0o600),
            creds.java_properties: (java_client_properties(creds).encode(), 0o600),
        }
    )
    return True


def ensure_credentials(
    directory: Path,
    principals: Iterable[str],
    *,
    server: str,
    now: dt.datetime | None = None,
) -> list[str]:
    """Create the CA and a certificate for every principal that has none yet (``server``'s is
    also the broker's server certificate). Existing files are kept. Returns what was created."""
    now = now or dt.datetime.now(dt.UTC)
    directory.mkdir(parents=True, exist_ok=True, mode=0o755)
    # ca.crt is public (clients read it); every folder holding a key is 0700
    os.chmod(directory, 0o755)  # noqa: S103
    _migrate_flat(directory)
    created = ["ca"] if _ensure_ca(directory, now) else []
    ca_key_pem = ca_key_file(directory).read_bytes()
    ca_cert_pem = (directory / "ca.crt").read_bytes()
    for name in dict.fromkeys([server, *principals]):
        creds = Credentials(directory, check_principal(name))
        if _ensure_principal(creds, ca_key_pem, ca_cert_pem, now, server=name == server):
            created.append(name)
    return created


def ensure_web_credentials(directory: Path, now: dt.datetime | None = None) -> bool:
    """The auditor page's server certificate (CN audit-web, localhost and 127.0.0.1), issued by
    the CA in ``directory`` if it has none yet. Returns whether it was created."""
    now = now or dt.datetime.now(dt.UTC)
    creds = Credentials(directory, WEB_SERVER)
    if creds.cert.exists() and creds.key.exists():
        return False
    ca_cert, ca_key = creds.ca, ca_key_file(directory)
    if not (ca_cert.is_file() and ca_key.is_file()):
        raise ConfigError(
            f"{ca_cert} and {ca_key} are needed to issue the auditor page's certificate "
            "(run: bash deploy/kafka.sh credentials)"
        )
    _private_folder(creds.folder)
    for stale in (creds.cert, creds.key):
        stale.unlink(missing_ok=True)
    key_pem, cert_pem = issue(
        ca_key.read_bytes(),
        ca_cert.read_bytes(),
        WEB_SERVER,
        now,
        server=True,
        dns=WEB_DNS,
        ips=WEB_IPS,
    )
    _write_group({creds.key: (key_pem, 0o600), creds.cert: (cert_pem, 0o644)})
    return True
