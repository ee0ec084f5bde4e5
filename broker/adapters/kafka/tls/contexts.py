"""TLS settings for the secure profile: the client and server contexts, and how a process
chooses its profile and principal (KafkaSecurity, from BROKER_KAFKA_*).

`aiokafka_options()` turns (profile, credentials dir, principal) into aiokafka keyword
arguments; `ssl_context()` is what Faust's ``SSLCredentials`` wraps; `server_context()` is the
auditor page's (mutual TLS: a client certificate from the local CA is required).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from broker.adapters.kafka.tls.credentials import WEB_SERVER, Credentials
from broker.core.deployment.acl import check_principal
from broker.core.errors import ConfigError


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


def _load_chain(ctx: ssl.SSLContext, creds: Credentials) -> ssl.SSLContext:
    """TLS 1.2 at least, and this principal's certificate and key (named, never shown, if they
    do not load)."""
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(str(creds.cert), str(creds.key))
    except ssl.SSLError:
        raise ConfigError(f"{creds.cert}: certificate and key do not load or match") from None
    return ctx


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
    return _load_chain(ctx, creds)


def server_context(directory: Path, principal: str = WEB_SERVER) -> ssl.SSLContext:
    """TLS 1.2+ server side for the auditor page: ``principal``'s certificate, and a client
    certificate signed by the local CA required in the handshake (no certificate, no page)."""
    creds = Credentials(directory, check_principal(principal))
    for path in (creds.ca, creds.cert, creds.key):
        if not path.is_file():
            raise ConfigError(f"{path} does not exist (run: bash deploy/kafka.sh credentials)")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(creds.ca))
    ctx.verify_mode = ssl.CERT_REQUIRED
    return _load_chain(ctx, creds)


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
