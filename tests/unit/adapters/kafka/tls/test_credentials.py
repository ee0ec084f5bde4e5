"""The credentials directory: folders, modes, created once, the flat layout moved."""

from __future__ import annotations

import datetime as dt
import shutil
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509

from broker.adapters.kafka.tls.contexts import server_context, ssl_context
from broker.adapters.kafka.tls.credentials import (
    WEB_SERVER,
    Credentials,
    ca_key_file,
    ensure_credentials,
    ensure_web_credentials,
)
from broker.core.errors import ConfigError

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_credentials_are_private_and_created_once(tmp_path: Path) -> None:
    """Keys and key stores are 0600 in 0700 folders, ca.crt is public; a second run creates
    nothing."""
    d = tmp_path / "creds"
    created = ensure_credentials(d, ["admin", "police"], server="kafka-node", now=NOW)
    assert created == ["ca", "kafka-node", "admin", "police"]
    assert _mode(d) == 0o755
    assert _mode(d / "ca.crt") == 0o644
    for folder in ("ca", "nodes", "admin", "clients"):
        assert _mode(d / folder) == 0o700, folder
    assert _mode(ca_key_file(d)) == 0o600
    for name in ("kafka-node", "admin", "police"):
        c = Credentials(d, name)
        assert _mode(c.key) == 0o600
        assert _mode(c.keystore) == 0o600
    before = Credentials(d, "admin").key.read_bytes()
    assert ensure_credentials(d, ["admin", "police"], server="kafka-node") == []
    assert Credentials(d, "admin").key.read_bytes() == before
    assert ensure_credentials(d, ["admin", "auditor"], server="kafka-node") == ["auditor"]


def test_ca_and_super_user_keys_are_apart_from_client_keys(tmp_path: Path) -> None:
    """The CA key, the node's and the admin's keys each have their own folder: a client given
    only clients/ and ca.crt connects, and holds no key that issues or is a super user."""
    d = tmp_path / "creds"
    ensure_credentials(d, ["admin", "broker", "police"], server="kafka-node", now=NOW)
    keys = {p.relative_to(d).as_posix() for p in d.rglob("*.key")}
    assert keys == {
        "ca/ca.key",
        "nodes/kafka-node.key",
        "admin/admin.key",
        "clients/broker.key",
        "clients/police.key",
    }
    assert {p.relative_to(d).as_posix() for p in d.rglob("*.keystore.pem")} == {
        "nodes/kafka-node.keystore.pem",
        "admin/admin.keystore.pem",
        "clients/broker.keystore.pem",
        "clients/police.keystore.pem",
    }
    props = Credentials(d, "police").java_properties.read_text(encoding="utf-8")
    assert f"ssl.keystore.location={d}/clients/police.keystore.pem" in props
    assert f"ssl.truststore.location={d}/ca.crt" in props
    view = tmp_path / "police-view"  # what a client process is given (mounted)
    shutil.copytree(d / "clients", view / "clients")
    shutil.copy(d / "ca.crt", view / "ca.crt")
    assert isinstance(ssl_context(view, "police"), ssl.SSLContext)
    with pytest.raises(ConfigError, match=r"admin/admin\.crt does not exist"):
        ssl_context(view, "admin")


def test_flat_credentials_are_moved_into_folders(tmp_path: Path) -> None:
    """A directory in the earlier flat layout (every file beside ca.crt) is moved into the
    folders on the next init: the same keys, nothing issued again, properties rewritten."""
    d = tmp_path / "creds"
    ensure_credentials(d, ["admin", "police"], server="kafka-node", now=NOW)
    keys = {n: Credentials(d, n).key.read_bytes() for n in ("kafka-node", "admin", "police")}
    ca_key = ca_key_file(d).read_bytes()
    for folder in ("ca", "nodes", "admin", "clients"):  # flatten, as earlier versions wrote it
        for path in (d / folder).iterdir():
            path.rename(d / path.name)
        (d / folder).rmdir()
    (d / "police.properties").write_text("ssl.keystore.location=old\n", encoding="utf-8")
    assert ensure_credentials(d, ["admin", "police"], server="kafka-node", now=NOW) == []
    assert not (d / "ca.key").exists()
    assert sorted(p.name for p in d.iterdir() if p.is_file()) == ["ca.crt"]
    assert ca_key_file(d).read_bytes() == ca_key
    for name, key in keys.items():
        c = Credentials(d, name)
        assert c.key.read_bytes() == key
        assert _mode(c.key) == 0o600
        assert str(c.keystore) in c.java_properties.read_text(encoding="utf-8")
    assert _mode(d / "ca") == 0o700


def test_the_pages_certificate_is_for_loopback_and_clients_must_present_one(
    tmp_path: Path,
) -> None:
    """audit-web: CN audit-web, SANs localhost and 127.0.0.1 only; the server context requires a
    client certificate from the CA."""
    ensure_credentials(tmp_path, ["auditor"], server="kafka-node", now=NOW)
    assert ensure_web_credentials(tmp_path, now=NOW) is True
    assert ensure_web_credentials(tmp_path, now=NOW) is False
    web = Credentials(tmp_path, WEB_SERVER)
    cert = x509.load_pem_x509_certificate(web.cert.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(a) for a in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert web.key.stat().st_mode & 0o777 == 0o600
    ctx = server_context(tmp_path)
    assert ctx.verify_mode == ssl.CERT_REQUIRED
