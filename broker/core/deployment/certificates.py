"""X.509 for the secure Kafka profile: a local CA and the certificates it issues.

Pure: keys and certificates are built in memory and returned as PEM; the caller passes ``now``
and decides where the bytes go (broker.adapters.kafka.tls.credentials writes them). Every
certificate's CN is the principal (``User:<CN>``) that the ACLs name (broker.core.deployment.acl).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from broker.core.deployment.acl import check_principal
from broker.core.errors import ConfigError
from broker.core.times import CLOCK_SKEW

CA_NAME = "oslo-share-broker local kafka CA"
# Names the broker's certificate is valid for: loopback, and the compose service name.
SERVER_DNS = ("localhost", "kafka")
SERVER_IPS = ("127.0.0.1", "::1")
CA_DAYS = 3650
LEAF_DAYS = 825


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
        .not_valid_before(now - CLOCK_SKEW)  # a peer whose clock runs behind accepts it
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
        .not_valid_before(now - CLOCK_SKEW)  # a peer whose clock runs behind accepts it
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
