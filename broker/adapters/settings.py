"""Settings from the environment, with defaults that run against the local broker."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from broker.adapters.kafka.security import KafkaSecurity
from broker.adapters.stores import keyfiles
from broker.adapters.stores.keyfiles import KeyPaths
from broker.core.deployment.topics import TopicNames
from broker.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
SUBJECT_KEY_NAME = "subject-ref.key"


@dataclass(frozen=True)
class Settings:
    bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = ""
    policy_dir: Path = ROOT / "policies"
    state_dir: Path = ROOT / "var"
    app_id: str = "oslo-share-broker"
    subject_key_file: Path | None = None
    metrics_port: int = 0  # Prometheus endpoint on 127.0.0.1; 0 = off
    notice_max_age: timedelta = timedelta(hours=48)  # older notices are refused as stale
    # plaintext, or the secure profile (mutual TLS); frozen, so sharing the default is safe
    kafka: KafkaSecurity = KafkaSecurity()  # noqa: RUF009

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        state = Path(env.get("BROKER_STATE_DIR", str(cls.state_dir)))
        prefix = env.get("BROKER_TOPIC_PREFIX", "")
        return cls(
            bootstrap=env.get("BROKER_BOOTSTRAP", cls.bootstrap),
            topic_prefix=prefix,
            policy_dir=Path(env.get("BROKER_POLICY_DIR", str(cls.policy_dir))),
            state_dir=state,
            app_id=env.get("BROKER_APP_ID", f"{prefix}{cls.app_id}"),
            metrics_port=int(env.get("BROKER_METRICS_PORT", "0")),
            notice_max_age=timedelta(hours=float(env.get("BROKER_NOTICE_MAX_AGE_HOURS", "48"))),
            kafka=KafkaSecurity.from_env(env),
            subject_key_file=Path(env["BROKER_SUBJECT_KEY_FILE"])
            if "BROKER_SUBJECT_KEY_FILE" in env
            else None,
        )

    @property
    def topics(self) -> TopicNames:
        return TopicNames(self.topic_prefix)

    def key_paths(self) -> KeyPaths:
        """BROKER_KEY_DIR (default <state>/keys), BROKER_KEY_REGISTRY (<key dir>/registry.yaml)."""
        return KeyPaths.from_env(self.state_dir, os.environ)

    def subject_key_path(self) -> Path:
        """BROKER_SUBJECT_KEY_FILE, else ``subject-ref.key`` in the key dir (BROKER_KEY_DIR,
        default <state>/keys): beside the private keys, under the same rules."""
        return self.subject_key_file or self.key_paths().root / SUBJECT_KEY_NAME

    def subject_key(self) -> bytes:
        """The HMAC key for keyed references to children. Created (0600, atomically) on first
        use locally; in production it is provisioned and the file must already exist. Refused,
        like a private key, if it is not a regular file or others may read it."""
        path = self.subject_key_path()
        if self.subject_key_file is None and not path.exists():
            old = self.state_dir / "keys" / SUBJECT_KEY_NAME
            if old != path and old.exists():
                # never a new key silently: every subject reference and pseudonym would change
                raise ConfigError(
                    f"subject key file {path} does not exist, but {old} does (where it was kept "
                    f"before BROKER_KEY_DIR was honoured): move it there (mv {old} {path}; mode "
                    "0600) and start again"
                )
            try:
                keyfiles.write_private(path, secrets.token_bytes(32), root=path.parent)
            except ConfigError:
                if not path.exists():  # not created by another process meanwhile
                    raise
            except OSError as exc:
                raise ConfigError(
                    f"subject key file {path}: cannot be created ({exc.strerror})"
                ) from None
        key = keyfiles.read_secret(path, "subject key file")
        if len(key) < 32:
            raise ConfigError(f"subject key file {path} holds fewer than 32 bytes")
        return key
