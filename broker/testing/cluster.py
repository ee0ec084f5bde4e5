"""The local Kafka as tests and drills drive it: one node or the three-node cluster of
kafka.sh (KAFKA_NODES=3), started and stopped, one node killed (SIGKILL), stopped or started
again, and the settings that make `broker` processes and clients use it.

    cluster = Cluster(data_dir, free_ports(6), policy_dir=policies)
    cluster.start()                      # three voters, RF 3, min ISR 2, secure profile
    settings = cluster.settings(state_dir)
    cluster.kill(2)                      # kill -9 node 2: the others carry on
    cluster.restart(2)                   # back, and every partition in sync again
    cluster.stop()

Everything goes through kafka.sh (``script``: the packaged one, or the checkout's
deploy/kafka.sh, which finds the checkout's jars), so what a test does is what an operator
types.
"""

from __future__ import annotations

import contextlib
import dataclasses
import subprocess
import sys
from pathlib import Path

from broker.adapters.kafka.clients import Connection, new_admin
from broker.adapters.kafka.local import SCRIPT
from broker.adapters.kafka.tls.contexts import KafkaSecurity, Profile
from broker.adapters.settings import Settings, environment, environment_set
from broker.core.deployment.acl import Principals
from broker.core.deployment.topics import SINGLE_NODE, THREE_NODES, Replication


class ClusterError(RuntimeError):
    """kafka.sh failed; the message carries its output."""


@dataclasses.dataclass(frozen=True)
class Cluster:
    """A local Kafka of ``nodes`` nodes (1 or 3) on 127.0.0.1 from ``port`` on (node N's client
    port ``port + 2(N-1)``, its controller one above: ``free_ports(2 * nodes)`` finds them)."""

    data_dir: Path
    port: int
    policy_dir: Path  # the organisations the secure profile makes certificates for
    nodes: int = 3
    profile: Profile = Profile.secure
    credentials_dir: Path | None = None  # None: <data dir>/credentials
    lib_dir: Path | None = None  # None: the script's (deploy/kafka.sh: the checkout's)
    script: Path = SCRIPT
    start_timeout: int = 120
    heap: str = "-Xmx512m"

    def __post_init__(self) -> None:
        if self.nodes not in (1, 3):
            raise ValueError(f"nodes: 1 or 3, got {self.nodes}")

    @property
    def credentials(self) -> Path:
        return self.credentials_dir or self.data_dir / "credentials"

    def node_port(self, node: int) -> int:
        """Node ``node``'s client port."""
        self._check(node)
        return self.port + 2 * (node - 1)

    @property
    def bootstrap(self) -> str:
        """Every node's address, comma-separated (clients need only one that is up)."""
        return ",".join(f"127.0.0.1:{self.node_port(n)}" for n in range(1, self.nodes + 1))

    @property
    def replication(self) -> Replication:
        """What the topics get: 3 copies, 2 in sync on the cluster; 1/1 on one node."""
        return THREE_NODES if self.nodes == 3 else SINGLE_NODE

    def security(self) -> KafkaSecurity:
        return KafkaSecurity(self.profile, self.credentials)

    def settings(self, base: Settings) -> Settings:
        """``base`` pointed at this Kafka: its bootstrap, profile, credentials, replication."""
        return dataclasses.replace(
            base, bootstrap=self.bootstrap, kafka=self.security(), replication=self.replication
        )

    def client_env(self) -> dict[str, str]:
        """The BROKER_* variables that make `broker` processes use this Kafka."""
        return {
            "BROKER_BOOTSTRAP": self.bootstrap,
            "BROKER_KAFKA_PROFILE": self.profile.value,
            "BROKER_KAFKA_CREDENTIALS_DIR": str(self.credentials),
            "BROKER_KAFKA_REPLICATION_FACTOR": str(self.replication.factor),
            "BROKER_KAFKA_MIN_INSYNC_REPLICAS": str(self.replication.min_insync),
            "BROKER_POLICY_DIR": str(self.policy_dir),
        }

    def in_environment(self) -> contextlib.AbstractContextManager[None]:
        """os.environ with client_env() while the block runs (`broker` children and
        client_options() then use this Kafka), as it was afterwards."""
        return environment_set(self.client_env())

    def env(self) -> dict[str, str]:
        """kafka.sh's environment for this Kafka."""
        overrides = {
            "KAFKA_NODES": str(self.nodes),
            "KAFKA_PORT": str(self.port),
            "KAFKA_DATA_DIR": str(self.data_dir),
            "KAFKA_CREDENTIALS_DIR": str(self.credentials),
            "KAFKA_PROFILE": self.profile.value,
            "KAFKA_START_TIMEOUT": str(self.start_timeout),
            "KAFKA_HEAP_OPTS": self.heap,
            "KAFKA_PYTHON": sys.executable,  # this package makes the certificates
            "BROKER_POLICY_DIR": str(self.policy_dir),
        }
        if self.lib_dir is not None:
            overrides["KAFKA_LIB_DIR"] = str(self.lib_dir)
        return environment(overrides)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``kafka.sh ARGS…``; ClusterError with its output if it fails and ``check``."""
        done = subprocess.run(
            ["bash", str(self.script), *args],
            env=self.env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if check and done.returncode != 0:
            raise ClusterError(
                f"kafka.sh {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
            )
        return done

    def start(self) -> str:
        """Start every node that is not running and wait until all are ready (N brokers, a
        quorum of N voters caught up); kafka.sh's report."""
        return self.run("start").stdout

    def stop(self) -> None:
        """Stop every node (SIGTERM, all at once; SIGKILL past the stop timeout)."""
        self.run("stop")

    def status(self) -> bool:
        """Whether every node runs and the cluster is ready."""
        return self.run("status", check=False).returncode == 0

    def _check(self, node: int) -> None:
        if not 1 <= node <= self.nodes:
            raise ValueError(f"node: from 1 to {self.nodes}, got {node}")

    def _node(self, node: int, action: str) -> str:
        self._check(node)
        if self.nodes == 1:
            raise ValueError("one node: use start() and stop()")
        return self.run("node", str(node), action).stdout

    def kill(self, node: int) -> None:
        """kill -9 one node: no controlled shutdown, as a crash."""
        self._node(node, "kill")

    def stop_node(self, node: int) -> None:
        """Stop one node cleanly (SIGTERM; its leaderships move first)."""
        self._node(node, "stop")

    def restart(self, node: int) -> None:
        """Start one stopped or killed node again and wait until it is back: N brokers and no
        partition under-replicated."""
        self._node(node, "start")

    def pid(self, node: int) -> int | None:
        """Node ``node``'s process id, None if kafka.sh has none recorded."""
        self._check(node)
        folder = self.data_dir if self.nodes == 1 else self.data_dir / f"node-{node}"
        try:
            return int((folder / "kafka.pid").read_text().strip())
        except (OSError, ValueError):
            return None


async def leader(settings: Settings, topic: str) -> int:
    """The node leading partition 0 of ``topic`` (the one a drill kills to hurt the most)."""
    admin = new_admin(Connection.of(settings, Principals().admin))
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return int(described["partitions"][0]["leader"])
