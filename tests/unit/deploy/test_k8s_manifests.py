"""deploy/k8s/generated: what `broker deploy k8s` writes, never drifting from policies/, valid
against the published schemas, and carrying exactly the ACLs and topics of `broker acl plan`."""

from __future__ import annotations

import copy
import hashlib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from broker.adapters.kafka.admin import planned
from broker.adapters.settings import Settings
from broker.cli.deploy import FILES, documents, render
from broker.core.deployment.manifests import user_bindings
from tests.conftest import POLICIES, ROOT, run_broker
from tests.unit.deploy.k8s_schemas import STRIMZI, load, problems

GENERATED = ROOT / "deploy" / "k8s" / "generated"
IMAGE = "oslo-share-broker:0.1.0"


def _settings(tmp_path: Path) -> Settings:
    """The defaults the committed files are generated with: no prefix, the default app id."""
    return Settings(state_dir=tmp_path, policies=POLICIES)


@pytest.fixture(scope="module")
def committed() -> list[tuple[str, dict[str, Any]]]:
    return load(GENERATED / name for name in FILES)


def test_committed_files_are_what_the_generator_writes(tmp_path: Path) -> None:
    """Regenerated from policies/, the manifests equal the committed files byte for byte."""
    texts = render(documents(_settings(tmp_path), IMAGE))
    stale = [n for n, t in texts.items() if (GENERATED / n).read_text(encoding="utf-8") != t]
    assert not stale, f"run `broker deploy k8s` and commit: {stale} differ"
    assert sorted(p.name for p in GENERATED.glob("*.yaml")) == sorted(FILES)


def test_check_flag_reports_a_stale_file(tmp_path: Path) -> None:
    """`broker deploy k8s --check` exits 1 naming the file that differs, 0 when up to date."""
    out = tmp_path / "k8s"
    env = {"BROKER_TOPIC_PREFIX": "", "BROKER_APP_ID": "oslo-share-broker"}
    assert run_broker("deploy", "k8s", "--out", str(out), env=env).returncode == 0
    assert run_broker("deploy", "k8s", "--out", str(out), "--check", env=env).returncode == 0
    (out / "users.yaml").write_text("# edited by hand\n")
    result = run_broker("deploy", "k8s", "--out", str(out), "--check", env=env)
    assert result.returncode == 1
    assert "users.yaml" in result.stderr


def test_every_manifest_validates_against_its_schema(
    committed: list[tuple[str, dict[str, Any]]],
) -> None:
    """Each committed document passes its Strimzi CRD or Kubernetes schema (strict)."""
    found = [p for source, doc in committed for p in problems(doc, source)]
    assert not found, "\n".join(found)
    kinds = Counter(doc["kind"] for _, doc in committed)
    assert kinds["Kafka"] == 1
    assert kinds["KafkaNodePool"] == 1
    assert kinds["Deployment"] == 3


def test_every_planned_acl_is_in_exactly_one_kafka_user(
    committed: list[tuple[str, dict[str, Any]]], tmp_path: Path
) -> None:
    """The KafkaUsers' ACLs, expanded, are `broker acl plan`'s bindings, each exactly once."""
    acls, _ = planned(_settings(tmp_path))
    users = [doc for _, doc in committed if doc["kind"] == "KafkaUser"]
    granted = Counter(b for u in users for b in user_bindings(u))
    assert set(granted.values()) == {1}
    assert sorted(granted) == sorted(acls)
    for u in users:  # and each in its own principal's user
        assert {b.principal for b in user_bindings(u)} <= {f"User:{u['metadata']['name']}"}


def test_every_planned_topic_is_in_exactly_one_kafka_topic(
    committed: list[tuple[str, dict[str, Any]]], tmp_path: Path
) -> None:
    """One KafkaTopic per topic of the plan, with its partitions, its settings and 3 replicas."""
    _, specs = planned(_settings(tmp_path))
    topics = [doc["spec"] for _, doc in committed if doc["kind"] == "KafkaTopic"]
    assert Counter(t["topicName"] for t in topics) == Counter(s.name for s in specs)
    by_name = {t["topicName"]: t for t in topics}
    for spec in specs:
        assert by_name[spec.name]["partitions"] == spec.partitions
        assert by_name[spec.name]["config"] == spec.config
        assert by_name[spec.name]["replicas"] == 3


def test_the_cluster_is_kraft_tls_and_replicated(
    committed: list[tuple[str, dict[str, Any]]],
) -> None:
    """Three dual-role nodes, replication 3 with min ISR 2, one TLS listener with client
    certificates, the simple authorizer with the admin as its only super user."""
    (cluster,) = [d for _, d in committed if d["kind"] == "Kafka"]
    (pool,) = [d for _, d in committed if d["kind"] == "KafkaNodePool"]
    assert pool["spec"]["replicas"] == 3
    assert sorted(pool["spec"]["roles"]) == ["broker", "controller"]
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == cluster["metadata"]["name"]
    kafka = cluster["spec"]["kafka"]
    assert kafka["config"]["default.replication.factor"] == 3
    assert kafka["config"]["min.insync.replicas"] == 2
    (listener,) = kafka["listeners"]
    assert listener["tls"] is True
    assert listener["authentication"] == {"type": "tls"}
    assert kafka["authorization"] == {"type": "simple", "superUsers": ["CN=admin"]}


# ---------------------------------------------------------------- the validator itself


def _first(
    committed: list[tuple[str, dict[str, Any]]], kind: str, has: str = "kind"
) -> dict[str, Any]:
    """A copy of the first document of ``kind`` whose spec has ``has``."""
    found = (d for _, d in committed if d["kind"] == kind and has in {"kind", *d.get("spec", {})})
    return copy.deepcopy(next(found))


def test_an_acl_with_an_unknown_operation_fails(
    committed: list[tuple[str, dict[str, Any]]],
) -> None:
    """A KafkaUser ACL operation Strimzi does not know is refused, naming the path."""
    doc = _first(committed, "KafkaUser", "authorization")
    doc["spec"]["authorization"]["acls"][0]["operations"] = ["Fly"]
    (found,) = problems(doc, "users.yaml")
    assert found.startswith("users.yaml KafkaUser/")
    assert "/spec/authorization/acls/0/operations/0: 'Fly' is not one of" in found


def test_a_deployment_without_containers_fails(
    committed: list[tuple[str, dict[str, Any]]],
) -> None:
    """A Deployment whose pod has no containers is refused."""
    doc = _first(committed, "Deployment")
    del doc["spec"]["template"]["spec"]["containers"]
    found = problems(doc)
    assert any("/spec/template/spec: 'containers' is a required property" in p for p in found)


def test_an_unknown_field_fails_strictly(committed: list[tuple[str, dict[str, Any]]]) -> None:
    """A misspelt field is an error (the API server would drop it without a word)."""
    doc = _first(committed, "KafkaTopic")
    doc["spec"]["replica"] = 3
    assert any("/spec: Additional properties are not allowed" in p for p in problems(doc))
    deployment = _first(committed, "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolice"] = "Always"
    assert problems(deployment)


def test_a_kind_without_a_schema_fails() -> None:
    """A manifest of a kind nothing was vendored for is not silently passed."""
    (found,) = problems({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}})
    assert "no schema for apiVersion v1 kind Pod" in found


def test_the_vendored_crds_are_strimzi_v1() -> None:
    """The vendored CRDs serve kafka.strimzi.io/v1, the API the manifests use."""
    names = sorted(p.name for p in STRIMZI.glob("*.yaml"))
    assert names == [
        "040-Crd-kafka.yaml",
        "043-Crd-kafkatopic.yaml",
        "044-Crd-kafkauser.yaml",
        "045-Crd-kafkanodepool.yaml",
    ]


VENDORED = {  # sha256 of each file as published (deploy/k8s/schemas/README.md names the source)
    "kubernetes-1.34.0/_definitions.json": (
        "81c8c580f3ddb1580b342d91b9771089a38fa33ef86ee923b9b604716b2ba552"
    ),
    "kubernetes-1.34.0/deployment-apps-v1.json": (
        "dc3e2e5f811d9e4d848ec6e9f6e6363b75b4c29f83e16910dd7d9f4dc1302689"
    ),
    "kubernetes-1.34.0/serviceaccount-v1.json": (
        "4659054996e87a73fa731fd925c418a1f1faecdca2d79cd0d627cba7a87b1a5d"
    ),
    "kubernetes-1.34.0/persistentvolumeclaim-v1.json": (
        "9f35df9bbad4a877cfe9c2e97a687ab0788f2a366da633782cb1e54b20927d62"
    ),
}


def test_the_vendored_kubernetes_schemas_are_unchanged() -> None:
    """Each vendored schema is byte for byte the published file (nobody loosened it)."""
    schemas = STRIMZI.parent
    for name, digest in VENDORED.items():
        assert hashlib.sha256((schemas / name).read_bytes()).hexdigest() == digest, name
