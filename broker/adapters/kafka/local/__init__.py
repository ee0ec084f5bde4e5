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


def free_ports(count: int = 2) -> int:
    """A port P on 127.0.0.1 with P to P+count-1 free: by default a broker's client and
    controller ports; 6 for a three-node cluster's."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port + count > 65000:
            continue
        if all(_free(port + i) for i in range(1, count)):
            return port
    raise RuntimeError(f"no {count} consecutive free ports on 127.0.0.1")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


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
