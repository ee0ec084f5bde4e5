"""The local CA and the certificates it issues, built in memory."""

from __future__ import annotations

import datetime as dt
import ipaddress

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from broker.core.deployment.certificates import issue, make_ca
from broker.core.errors import ConfigError

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)


def test_issued_certificates_chain_to_the_ca() -> None:
    """A client certificate carries CN=<principal> and is signed by the CA; the server's has
    the loopback SANs the clients verify."""
    ca_key, ca_pem = make_ca(NOW)
    ca = x509.load_pem_x509_certificate(ca_pem)
    _, client_pem = issue(ca_key, ca_pem, "recipient.school", NOW)
    client = x509.load_pem_x509_certificate(client_pem)
    client.verify_directly_issued_by(ca)
    assert client.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        "recipient.school"
    )
    _, server_pem = issue(ca_key, ca_pem, "kafka-node", NOW, server=True)
    sans = x509.load_pem_x509_certificate(server_pem).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert ipaddress.ip_address("127.0.0.1") in sans.value.get_values_for_type(x509.IPAddress)


def test_certificates_are_valid_from_the_given_now() -> None:
    """Validity is counted from the ``now`` passed in (less five minutes of clock skew)."""
    ca_key, ca_pem = make_ca(NOW, days=10)
    ca = x509.load_pem_x509_certificate(ca_pem)
    assert ca.not_valid_before_utc == NOW - dt.timedelta(minutes=5)
    assert ca.not_valid_after_utc == NOW + dt.timedelta(days=10)
    _, leaf_pem = issue(ca_key, ca_pem, "broker", NOW, days=3)
    leaf = x509.load_pem_x509_certificate(leaf_pem)
    assert leaf.not_valid_after_utc == NOW + dt.timedelta(days=3)


def test_a_bad_principal_gets_no_certificate() -> None:
    """The CN must be a principal name the ACLs could name."""
    ca_key, ca_pem = make_ca(NOW)
    with pytest.raises(ConfigError, match="'Bad Name'"):
        issue(ca_key, ca_pem, "Bad Name", NOW)
