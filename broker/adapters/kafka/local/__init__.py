"""A single-node Apache Kafka on 127.0.0.1 for the demo, the integration tests and the
benchmarks: ``kafka.sh`` and its config files ship beside this module, so an installed
package runs it as the checkout does (the checkout's ``deploy/kafka.sh`` calls the same
script). The jars are fetched with Maven into ``lib_dir``, never into the package."""

from __future__ import annotations

import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from broker.adapters.kafka.tls.contexts import KafkaSecurity, Profile
from broker.adapters.settings import environment

SCRIPT = Path(__file__).resolve().with_name("kafka.sh")


def free_port_pair() -> int:
    """A port P on 127.0.0.1 with P and P+1 free (a broker's client and controller ports)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port >= 65000:
            continue
        with socket.socket() as s2:
            try:
                s2.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free pair of ports on 127.0.0.1")


@dataclass(frozen=True)
class LocalKafka:
    """One broker run by kafka.sh: where its jars and data are, its port and profile."""

    lib_dir: Path
    data_dir: Path
    port: int
    policy_dir: Path  # the recipients the secure profile makes certificates for
    profile: Profile = Profile.plaintext

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def credentials_dir(self) -> Path:
        return self.data_dir / "credentials"

    def security(self) -> KafkaSecurity:
        """How clients connect to it (the secure profile: a certificate per principal)."""
        return KafkaSecurity(self.profile, self.credentials_dir)

    def env(self) -> dict[str, str]:
        """kafka.sh's environment for this broker."""
        return environment(
            {
                "KAFKA_LIB_DIR": str(self.lib_dir),
                "KAFKA_DATA_DIR": str(self.data_dir),
                "KAFKA_CREDENTIALS_DIR": str(self.credentials_dir),
                "KAFKA_PORT": str(self.port),
                "KAFKA_PROFILE": self.profile.value,
                "KAFKA_PYTHON": sys.executable,  # this package makes the certificates
                "BROKER_POLICY_DIR": str(self.policy_dir),
            }
        )

    def run(self, command: str) -> int:
        """``kafka.sh COMMAND`` (start, stop, status, fetch, reset); its exit code."""
        return subprocess.run(
            ["bash", str(SCRIPT), command], env=self.env(), check=False
        ).returncode

    def stop_command(self) -> str:
        """What a person types to stop it later."""
        return f"KAFKA_DATA_DIR={self.data_dir} KAFKA_LIB_DIR={self.lib_dir} bash {SCRIPT} stop"
