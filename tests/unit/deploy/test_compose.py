"""deploy/docker-compose.yml kept in step: its Kafka settings are the local broker's
(server.properties, secure.properties), and its one-shot `broker acl apply` and worker make the
topics and ACLs of `broker acl plan` and of the Kubernetes manifests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from broker.adapters.kafka.admin import planned
from broker.adapters.kafka.local import SCRIPT
from broker.adapters.kafka.tls.credentials import Credentials
from broker.adapters.settings import Settings
from broker.core.deployment.acl import Principals
from broker.core.deployment.manifests import ClusterSettings, broker_config, user_bindings
from tests.conftest import POLICIES, ROOT
from tests.unit.deploy.cli_commands import is_command
from tests.unit.deploy.k8s_schemas import load

COMPOSE = ROOT / "deploy" / "docker-compose.yml"
LOCAL = SCRIPT.parent  # broker/adapters/kafka/local
GENERATED = ROOT / "deploy" / "k8s" / "generated"
# Where the containers differ from the local broker on purpose (the compose file's header says
# why): listeners bind inside the container, paths are the container's.
CONTAINER_ONLY = {"listeners", "advertised.listeners", "log.dirs", "heap.opts"}
CONTAINER_CREDENTIALS = "/etc/kafka/credentials"


def properties(path: Path, credentials: str = CONTAINER_CREDENTIALS) -> dict[str, str]:
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip().replace("@CREDENTIALS_DIR@", credentials)
    return out


def from_env(environment: dict[str, str]) -> dict[str, str]:
    """The apache/kafka image's mapping: KAFKA_A_B -> a.b ('__' is '_', '___' is '-'); compose
    reads '$$' as '$'."""
    out = {}
    for name, value in environment.items():
        if not name.startswith("KAFKA_"):
            continue
        key = name.removeprefix("KAFKA_").lower()
        key = key.replace("___", "\0").replace("__", "\1").replace("_", ".")
        out[key.replace("\0", "-").replace("\1", "_")] = str(value).replace("$$", "$")
    return out


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return dict(doc["services"])


def _compare(service: dict[str, Any], expected: dict[str, str]) -> None:
    got = {k: v for k, v in from_env(service["environment"]).items() if k not in CONTAINER_ONLY}
    want = {k: v for k, v in expected.items() if k not in CONTAINER_ONLY}
    assert got == want


def test_plaintext_kafka_has_the_local_brokers_settings(services: dict[str, Any]) -> None:
    """The `kafka` service sets exactly server.properties' settings."""
    _compare(services["kafka"], properties(LOCAL / "server.properties"))


def test_secure_kafka_has_the_secure_profiles_settings(services: dict[str, Any]) -> None:
    """`kafka-secure` sets server.properties with secure.properties over it, and mounts the
    key store and CA certificate where those settings point."""
    expected = properties(LOCAL / "server.properties") | properties(LOCAL / "secure.properties")
    _compare(services["kafka-secure"], expected)
    mounts = {v.split(":")[1] for v in services["kafka-secure"]["volumes"] if ":" in v}
    assert f"{CONTAINER_CREDENTIALS}/ca.crt" in mounts
    assert expected["ssl.keystore.location"].startswith(f"{CONTAINER_CREDENTIALS}/nodes/")


def test_from_env_maps_the_images_variable_names() -> None:
    """The mapping the comparison relies on, including its escapes."""
    env = {"KAFKA_LOG_DIRS": "x", "KAFKA_A__B": "1", "KAFKA_C___D": "2", "CLUSTER_ID": "z"}
    assert from_env(env) == {"log.dirs": "x", "a_b": "1", "c-d": "2"}


def _settings(service: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings `broker` reads inside the service (its environment, the image's policies
    replaced by the checkout's, which the image copies)."""
    for name in list(service["environment"]):
        monkeypatch.setenv(name, str(service["environment"][name]))
    monkeypatch.setenv("BROKER_POLICY_DIR", str(POLICIES))
    monkeypatch.setenv("BROKER_STATE_DIR", str(tmp_path))
    return Settings.from_env()


def test_the_one_shot_applies_the_acl_and_topic_plan_of_the_manifests(
    services: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`acl-apply` runs `broker acl apply` with settings whose plan is the default plan and is
    what the KafkaUsers and KafkaTopics of deploy/k8s/generated hold."""
    one_shot = services["acl-apply"]
    assert one_shot["command"] == ["acl", "apply"]
    assert is_command(one_shot["command"])
    acls, specs = planned(_settings(one_shot, tmp_path, monkeypatch))
    assert (acls, specs) == planned(Settings(state_dir=tmp_path, policies=POLICIES))
    docs = [d for _, d in load(GENERATED / n for n in ("users.yaml", "topics.yaml"))]
    granted = sorted(b for d in docs if d["kind"] == "KafkaUser" for b in user_bindings(d))
    assert granted == sorted(acls)
    topics = sorted(d["spec"]["topicName"] for d in docs if d["kind"] == "KafkaTopic")
    assert topics == sorted(s.name for s in specs)
    assert one_shot["depends_on"]["kafka-secure"]["condition"] == "service_healthy"


def _mounted(service: dict[str, Any]) -> set[str]:
    return {v.split(":")[1] for v in service["volumes"] if v.startswith("../")}


def test_the_one_shot_mounts_only_the_admins_credentials(services: dict[str, Any]) -> None:
    """The admin's folder and the CA certificate; never the CA key or another's key."""
    env = services["acl-apply"]["environment"]
    creds = Credentials(Path(env["BROKER_KAFKA_CREDENTIALS_DIR"]), Principals().admin)
    assert _mounted(services["acl-apply"]) == {str(creds.ca), str(creds.folder)}


def test_the_worker_matches_the_image_and_the_kubernetes_worker(
    services: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compose worker: the image of the one-shot (deploy/Containerfile), a real command,
    the worker principal's certificate, and the topic prefix and app id of the Deployment."""
    worker, one_shot = services["worker"], services["acl-apply"]
    assert worker["image"] == one_shot["image"]
    assert one_shot["build"]["dockerfile"] == "deploy/Containerfile"
    assert is_command(worker["command"])
    assert worker["depends_on"]["acl-apply"]["condition"] == "service_completed_successfully"
    env = worker["environment"]
    creds = Credentials(Path(env["BROKER_KAFKA_CREDENTIALS_DIR"]), env["BROKER_KAFKA_PRINCIPAL"])
    assert env["BROKER_KAFKA_PRINCIPAL"] == Principals().worker
    assert {str(creds.ca), str(creds.cert), str(creds.key)} <= _mounted(worker)
    s = _settings(worker, tmp_path, monkeypatch)
    (deployment,) = [
        d
        for _, d in load([GENERATED / "workloads.yaml"])
        if d["kind"] == "Deployment" and d["metadata"]["name"] == "broker-worker"
    ]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    k8s_env = {e["name"]: e["value"] for e in container["env"]}
    assert (k8s_env["BROKER_TOPIC_PREFIX"], k8s_env["BROKER_APP_ID"]) == (s.topic_prefix, s.app_id)
    assert container["image"] == worker["image"]


def test_kubernetes_keeps_the_local_brokers_settings_replicated() -> None:
    """The Kafka resource's config is server.properties' replication and behaviour settings,
    the replication raised to the cluster's (3 replicas, 2 in sync) and nothing else changed."""
    local = properties(LOCAL / "server.properties") | properties(LOCAL / "secure.properties")
    cluster = ClusterSettings()
    for key, value in broker_config(cluster).items():
        assert key in local, f"{key}: not a setting of the local broker"
        if key.endswith("replication.factor"):
            assert (local[key], value) == ("1", cluster.replication.factor), key
        elif key.endswith(("min.isr", "min.insync.replicas")):
            assert (local[key], value) == ("1", cluster.replication.min_insync), key
        else:
            assert str(value).lower() == local[key].lower(), key


def test_the_local_cluster_replicates_as_the_kubernetes_one() -> None:
    """cluster.properties (KAFKA_NODES=3 deploy/kafka.sh start) sets exactly the replication
    settings of the Kafka resource: 3 replicas, 2 in sync, the internal topics too."""
    replication = {
        k: str(v)
        for k, v in broker_config(ClusterSettings()).items()
        if k.endswith(("replication.factor", "min.isr", "min.insync.replicas"))
    }
    assert properties(LOCAL / "cluster.properties") == replication
    assert replication["transaction.state.log.min.isr"] == "2"
