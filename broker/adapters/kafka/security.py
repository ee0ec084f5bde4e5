"""The secure Kafka profile's key material and client settings (mutual TLS).

Every client and the broker itself hold a certificate from a local CA; the broker maps the
certificate's CN to the principal (``User:<CN>``) that its ACLs name (broker.core.deployment.acl).
The
credentials directory (0755) keeps apart what different processes need, so a client is given
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
certificate (``clients/audit-web.*``, for localhost and 127.0.0.1) and admits only clients whose
CA-signed certificate names an auditor principal (``auditor``, or ``auditor.<name>`` for one
certificate per auditor: ``init --principal``).

`aiokafka_options()` turns (profile, credentials dir, principal) into aiokafka keyword
arguments; `ssl_context()` is what Faust's ``SSLCredentials`` wraps. No secret is ever logged or
put in an error message: errors name the file, never its content.


    python -m broker.adapters.kafka.security init DIR [--policy-dir POLICY_DIR]  (kafka.sh)
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import os
import ssl
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from broker.adapters.policy_files import load_policy
from broker.core.deployment.acl import PRINCIPAL_NAME, Principals, check_principal
from broker.core.errors import ConfigError

CA_NAME = "oslo-share-broker local kafka CA"
# Names the broker's certificate is valid for: loopback, and the compose service name.
SERVER_DNS = ("localhost", "kafka")
SERVER_IPS = ("127.0.0.1", "::1")
# The auditor page's server certificate: loopback only.
WEB_SERVER = "audit-web"
WEB_DNS = ("localhost",)
WEB_IPS = ("127.0.0.1",)
CA_DAYS = 3650
LEAF_DAYS = 825


class Profile(StrEnum):
    plaintext = "plaintext"
    secure = "secure"


def parse_profile(value: str) -> Profile:
    try:
        return Profile(value.strip().lower() or "plaintext")
    except ValueError:
        raise ConfigError(
            f"BROKER_KAFKA_PROFILE: '{value}' is not a profile (expected one of: "
            f"{', '.join(p.value for p in Profile)})"
        ) from None


# ---------------------------------------------------------------- certificates (pure)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    # PKCS#8, unencrypted: Kafka's PEM key store reads it (KAFKA-12703); the file is 0600.
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca(now: dt.datetime, days: int = CA_DAYS) -> tuple[bytes, bytes]:
    """A self-signed CA: (key PEM, certificate PEM)."""
    key = _key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(CA_NAME))
        .issuer_name(_name(CA_NAME))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _key_pem(key), cert.public_bytes(serialization.Encoding.PEM)


def issue(
    ca_key_pem: bytes,
    ca_cert_pem: bytes,
    principal: str,
    now: dt.datetime,
    *,
    server: bool = False,
    days: int = LEAF_DAYS,
    dns: Iterable[str] = SERVER_DNS,
    ips: Iterable[str] = SERVER_IPS,
) -> tuple[bytes, bytes]:
    """A certificate with CN=<principal> signed by the CA: (key PEM, certificate PEM).
    ``server``: also valid as a server certificate for the names ``dns`` and addresses ``ips``
    (by default the broker's: loopback and 'kafka')."""
    check_principal(principal)
    ca_key = serialization.load_pem_private_key(ca_key_pem, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ConfigError("ca.key: not an EC private key")
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
    key = _key()
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(principal))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if server:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
        sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in ips]
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False).sign(
        ca_key, hashes.SHA256()
    )
    return _key_pem(key), cert.public_bytes(serialization.Encoding.PEM)


# ---------------------------------------------------------------- files


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
    created: list[str] = []
    ca_cert, ca_key = directory / "ca.crt", ca_key_file(directory)
    _private_folder(ca_key.parent)
    if not ca_cert.exists():
        key_pem, cert_pem = make_ca(now)
        _write_group({ca_key: (key_pem, 0o600), ca_cert: (cert_pem, 0o644)})
        created.append("ca")
    elif not ca_key.exists():
        raise ConfigError(f"{ca_key} is missing (needed to issue certificates); remove {ca_cert}")
    ca_key_pem, ca_cert_pem = ca_key.read_bytes(), ca_cert.read_bytes()
    for name in dict.fromkeys([server, *principals]):
        creds = Credentials(directory, check_principal(name))
        _private_folder(creds.folder)
        if creds.cert.exists() and creds.key.exists() and creds.keystore.exists():
            if not creds.java_properties.exists():  # removed when moved from the flat layout
                _write_new(creds.java_properties, java_client_properties(creds).encode(), 0o600)
            continue
        for stale in (creds.cert, creds.key, creds.keystore, creds.java_properties):
            stale.unlink(missing_ok=True)
        key_pem, cert_pem = issue(ca_key_pem, ca_cert_pem, name, now, server=name == server)
        _write_group(
            {
                creds.key: (key_pem, 0o600),
                creds.cert: (cert_pem, 0o644),
                creds.keystore: (key_pem + cert_pem, 0o600),
                creds.java_properties: (java_client_properties(creds).encode(), 0o600),
            }
        )
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


def is_auditor(principal: str) -> bool:
    """The principals the auditor page admits: ``auditor`` and ``auditor.<name>``."""
    base = Principals().auditor
    if not PRINCIPAL_NAME.match(principal):
        return False
    return principal == base or (
        principal.startswith(base + ".") and len(principal) > len(base) + 1
    )


# ---------------------------------------------------------------- clients


def ssl_context(directory: Path, principal: str) -> ssl.SSLContext:
    """TLS 1.2+, the local CA as the only trust anchor, this principal's certificate."""
    creds = Credentials(directory, check_principal(principal))
    for path in (creds.ca, creds.cert, creds.key):
        if not path.is_file():
            raise ConfigError(
                f"BROKER_KAFKA_CREDENTIALS_DIR: {path} does not exist "
                f"(run: bash deploy/kafka.sh credentials, or provision the file)"
            )
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(creds.ca))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(str(creds.cert), str(creds.key))
    except ssl.SSLError:
        raise ConfigError(f"{creds.cert}: certificate and key do not load or match") from None
    return ctx


def server_context(directory: Path, principal: str = WEB_SERVER) -> ssl.SSLContext:
    """TLS 1.2+ server side for the auditor page: ``principal``'s certificate, and a client
    certificate signed by the local CA required in the handshake (no certificate, no page)."""
    creds = Credentials(directory, check_principal(principal))
    for path in (creds.ca, creds.cert, creds.key):
        if not path.is_file():
            raise ConfigError(f"{path} does not exist (run: bash deploy/kafka.sh credentials)")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(creds.ca))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = ssl.CERT_REQUIRED
    try:
        ctx.load_cert_chain(str(creds.cert), str(creds.key))
    except ssl.SSLError:
        raise ConfigError(f"{creds.cert}: certificate and key do not load or match") from None
    return ctx


def aiokafka_options(profile: Profile, directory: Path, principal: str) -> dict[str, Any]:
    """Keyword arguments for AIOKafkaProducer/Consumer/AdminClient."""
    if profile is Profile.plaintext:
        return {"security_protocol": "PLAINTEXT"}
    return {"security_protocol": "SSL", "ssl_context": ssl_context(directory, principal)}


@dataclass(frozen=True)
class KafkaSecurity:
    """How this process authenticates to Kafka (settings: BROKER_KAFKA_PROFILE,
    BROKER_KAFKA_PRINCIPAL, BROKER_KAFKA_CREDENTIALS_DIR)."""

    profile: Profile
    credentials_dir: Path  # settings: <state dir>/kafka-credentials unless given
    principal: str | None = None  # None: each command's own (publisher.<sender> publishes, …)

    @classmethod
    def from_env(cls, env: Mapping[str, str], default_dir: Path) -> KafkaSecurity:
        principal = env.get("BROKER_KAFKA_PRINCIPAL") or None
        if principal is not None:
            check_principal(principal)
        return cls(
            profile=parse_profile(env.get("BROKER_KAFKA_PROFILE", "plaintext")),
            credentials_dir=Path(env.get("BROKER_KAFKA_CREDENTIALS_DIR", str(default_dir))),
            principal=principal,
        )

    def who(self, default: str) -> str:
        """The principal to connect as: BROKER_KAFKA_PRINCIPAL if set, else ``default``."""
        return self.principal or default

    def options(self, default_principal: str) -> dict[str, Any]:
        """aiokafka keyword arguments (producer, consumer, admin client)."""
        return aiokafka_options(self.profile, self.credentials_dir, self.who(default_principal))

    def ssl_context(self, default_principal: str) -> ssl.SSLContext | None:
        """For Faust's ``broker_credentials=faust.SSLCredentials(ctx)``; None: plaintext."""
        if self.profile is Profile.plaintext:
            return None
        return ssl_context(self.credentials_dir, self.who(default_principal))


# ---------------------------------------------------------------- command line


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m broker.adapters.kafka.security")
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
    sys.exit(_main())
