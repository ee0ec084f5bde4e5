"""TLS contexts and aiokafka options from the credentials directory; BROKER_KAFKA_*."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import pytest

from broker.adapters.kafka.tls.contexts import (
    KafkaSecurity,
    Profile,
    aiokafka_options,
    parse_profile,
    ssl_context,
)
from broker.adapters.kafka.tls.credentials import ensure_credentials
from broker.core.errors import ConfigError

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)


def test_client_options(tmp_path: Path) -> None:
    """Plaintext asks for nothing; secure gives aiokafka an SSL context with the CA."""
    assert aiokafka_options(Profile.plaintext, tmp_path, "police") == {
        "security_protocol": "PLAINTEXT"
    }
    ensure_credentials(tmp_path, ["police"], server="kafka-node", now=NOW)
    opts = aiokafka_options(Profile.secure, tmp_path, "police")
    assert opts["security_protocol"] == "SSL"
    ctx = opts["ssl_context"]
    assert isinstance(ctx, ssl.SSLContext)
    assert ctx.verify_mode is ssl.CERT_REQUIRED
    assert ctx.check_hostname
    assert len(ctx.get_ca_certs()) == 1


def test_missing_credentials_name_the_file(tmp_path: Path) -> None:
    """A principal without files: the error names the variable and the missing path."""
    with pytest.raises(ConfigError, match=r"BROKER_KAFKA_CREDENTIALS_DIR: .*ca\.crt"):
        ssl_context(tmp_path, "police")


def test_settings_from_env(tmp_path: Path) -> None:
    """BROKER_KAFKA_* select profile, directory and principal; a bad profile is named."""
    sec = KafkaSecurity.from_env(
        {"BROKER_KAFKA_PROFILE": "secure", "BROKER_KAFKA_PRINCIPAL": "auditor"}, tmp_path
    )
    assert (sec.profile, sec.credentials_dir, sec.who("police")) == (
        Profile.secure,
        tmp_path,
        "auditor",
    )
    assert KafkaSecurity.from_env({}, tmp_path).ssl_context("police") is None
    with pytest.raises(ConfigError, match="BROKER_KAFKA_PROFILE: 'sasl'"):
        parse_profile("sasl")
