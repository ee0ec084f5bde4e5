"""Settings from the environment: the only reader of ``os.environ`` in broker/.

Nothing here points into the checkout or the installed package: the policies are named
(BROKER_POLICY_DIR) or found in the working directory, and the state (keys, stores, witness
files) lives in BROKER_STATE_DIR, by default the user's data directory.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import platformdirs

from broker.adapters.kafka.tls.contexts import KafkaSecurity, Profile
from broker.adapters.stores import keyfiles
from broker.adapters.stores.keyfiles import KeyPaths
from broker.core.deployment.topics import SINGLE_NODE, Replication, TopicNames
from broker.core.errors import ConfigError
from broker.core.i18n import DEFAULT_LANGUAGE, LanguageError, language

APP_NAME = "oslo-share-broker"
SUBJECT_KEY_NAME = "subject-ref.key"
POLICY_DIR_NAME = "policies"  # looked for in the working directory without BROKER_POLICY_DIR
CREDENTIALS_DIR_NAME = "kafka-credentials"  # under the state dir, as deploy/kafka.sh keeps it


def user_state_dir() -> Path:
    """The state dir without BROKER_STATE_DIR: the user's data directory
    (``$XDG_DATA_HOME/oslo-share-broker``, by default ``~/.local/share/oslo-share-broker``)."""
    return platformdirs.user_data_path(APP_NAME)


def _plaintext() -> KafkaSecurity:
    return KafkaSecurity(Profile.plaintext, user_state_dir() / CREDENTIALS_DIR_NAME)


def environment(overrides: Mapping[str, str]) -> dict[str, str]:
    """This process's environment with ``overrides``: for a child process (kafka.sh, `broker …`)."""
    return {**os.environ, **overrides}


@contextlib.contextmanager
def environment_set(values: Mapping[str, str]) -> Iterator[None]:
    """This process's environment with ``values`` while the block runs, as it was afterwards
    (a test session's or a benchmark's Kafka, for the `broker` children and clients it starts)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclass(frozen=True)
class Settings:
    state_dir: Path
    # BROKER_POLICY_DIR, or ./policies found at start; None: neither (policy_dir then raises,
    # so the commands that need no policy, such as `broker audit verify`, still run)
    policies: Path | None = None
    bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = ""
    app_id: str = APP_NAME
    subject_key_file: Path | None = None
    metrics_port: int = 0  # Prometheus endpoint on 127.0.0.1; 0 = off
    notice_max_age: timedelta = timedelta(hours=48)  # older notices are refused as stale
    # plaintext, or the secure profile (mutual TLS)
    kafka: KafkaSecurity = field(default_factory=_plaintext)
    # the auditor's files: BROKER_AUDIT_KEY_FILE, BROKER_AUDIT_WITNESS, BROKER_AUDIT_STORE
    # (None: the defaults under the state dir that cli/audit chooses)
    audit_key_file: Path | None = None
    audit_witness: Path | None = None
    audit_store: str | None = None
    # where kafka.sh keeps Kafka's jars for the demo (KAFKA_LIB_DIR); None: <state>/kafka/lib
    kafka_lib_dir: Path | None = None
    # the topics' replication: BROKER_KAFKA_REPLICATION_FACTOR (1; 3 on the three-node
    # cluster) and BROKER_KAFKA_MIN_INSYNC_REPLICAS (default: all copies but one, at least 1)
    replication: Replication = SINGLE_NODE
    # BROKER_LANG: the language of what people read (pages, reports, letters): nb or en
    lang: str = DEFAULT_LANGUAGE

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        state = Path(env.get("BROKER_STATE_DIR") or user_state_dir())
        prefix = env.get("BROKER_TOPIC_PREFIX", "")
        return cls(
            state_dir=state,
            policies=_policy_dir(env),
            bootstrap=env.get("BROKER_BOOTSTRAP", cls.bootstrap),
            topic_prefix=prefix,
            app_id=env.get("BROKER_APP_ID", f"{prefix}{cls.app_id}"),
            metrics_port=int(env.get("BROKER_METRICS_PORT", "0")),
            notice_max_age=timedelta(hours=float(env.get("BROKER_NOTICE_MAX_AGE_HOURS", "48"))),
            kafka=KafkaSecurity.from_env(env, state / CREDENTIALS_DIR_NAME),
            subject_key_file=_path(env, "BROKER_SUBJECT_KEY_FILE"),
            audit_key_file=_path(env, "BROKER_AUDIT_KEY_FILE"),
            audit_witness=_path(env, "BROKER_AUDIT_WITNESS"),
            audit_store=env.get("BROKER_AUDIT_STORE") or None,
            kafka_lib_dir=_path(env, "KAFKA_LIB_DIR"),
            replication=_replication(env),
            lang=_lang(env),
        )

    @property
    def policy_dir(self) -> Path:
        """The policy directory; a ConfigError naming BROKER_POLICY_DIR when there is none."""
        if self.policies is None:
            raise ConfigError(
                "no policy directory: set BROKER_POLICY_DIR to the folder holding "
                "legal-bases.yaml, recipients.yaml and rules.yaml, or run broker from the "
                f"folder that holds it as {POLICY_DIR_NAME}/"
            )
        return self.policies

    @property
    def topics(self) -> TopicNames:
        return TopicNames(self.topic_prefix)

    def process_env(self) -> dict[str, str]:
        """The environment that makes a `broker …` child process use these settings."""
        overrides = {
            "BROKER_TOPIC_PREFIX": self.topic_prefix,
            "BROKER_APP_ID": self.app_id,
            "BROKER_BOOTSTRAP": self.bootstrap,
            "BROKER_STATE_DIR": str(self.state_dir),
            "BROKER_KAFKA_PROFILE": self.kafka.profile.value,
            "BROKER_KAFKA_CREDENTIALS_DIR": str(self.kafka.credentials_dir),
            "BROKER_KAFKA_REPLICATION_FACTOR": str(self.replication.factor),
            "BROKER_KAFKA_MIN_INSYNC_REPLICAS": str(self.replication.min_insync),
            "BROKER_LANG": self.lang,
        }
        if self.kafka.principal is not None:
            overrides["BROKER_KAFKA_PRINCIPAL"] = self.kafka.principal
        if self.policies is not None:
            overrides["BROKER_POLICY_DIR"] = str(self.policies)
        return environment(overrides)

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


def _count(env: Mapping[str, str], name: str) -> int | None:
    """A whole number setting, None when unset; a ConfigError naming it otherwise."""
    value = env.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise ConfigError(f"{name}: '{value}' is not a whole number")
    return int(value)


def _replication(env: Mapping[str, str]) -> Replication:
    """BROKER_KAFKA_REPLICATION_FACTOR and BROKER_KAFKA_MIN_INSYNC_REPLICAS (1/1 when unset; a
    factor alone needs all copies but one: 3 -> 2)."""
    given = _count(env, "BROKER_KAFKA_REPLICATION_FACTOR")
    factor = 1 if given is None else given
    min_insync = _count(env, "BROKER_KAFKA_MIN_INSYNC_REPLICAS")
    try:
        if min_insync is None:
            return Replication.for_factor(factor)
        return Replication(factor, min_insync)
    except ConfigError as exc:
        raise ConfigError(
            f"BROKER_KAFKA_REPLICATION_FACTOR / BROKER_KAFKA_MIN_INSYNC_REPLICAS: {exc}"
        ) from None


def _lang(env: Mapping[str, str]) -> str:
    try:
        return language(env.get("BROKER_LANG") or DEFAULT_LANGUAGE)
    except LanguageError as exc:
        raise ConfigError(f"BROKER_LANG: {exc}") from None


def _path(env: Mapping[str, str], name: str) -> Path | None:
    return Path(env[name]) if env.get(name) else None


def _policy_dir(env: Mapping[str, str]) -> Path | None:
    """BROKER_POLICY_DIR as given, else ./policies (made absolute) if it exists, else None."""
    if env.get("BROKER_POLICY_DIR"):
        return Path(env["BROKER_POLICY_DIR"])
    found = Path.cwd() / POLICY_DIR_NAME
    return found if found.is_dir() else None
