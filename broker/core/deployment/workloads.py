"""Kubernetes Deployments of the long-running processes: the worker, the audit sealer and the
receipts relay, as data (apps/v1, with their ServiceAccounts and state volumes).

Pure, like manifests. Each process runs the image of deploy/Containerfile (entrypoint
``broker``) with its own CLI command, as its own Kafka principal: the Secret Strimzi's User
Operator makes for that KafkaUser (user.crt, user.key) and the cluster CA's certificate are
mounted where the secure profile looks for them (broker.adapters.kafka.tls.credentials). The
process's signing keys come from a Secret the operator creates (``<name>-keys``, one file
``keys.tar`` of the key directory); an init container unpacks it owner-only (0600), because the
key files are refused when they are symlinks or readable by others, and Secret volumes are both.

One replica each, replaced by recreation: one sealer per audit topic, and one worker until the
worker's state (replay guard, data keys) is shared by several (issue #14, items 2 and 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from broker.core.deployment.acl import Principals
from broker.core.deployment.manifests import DEFAULT_CLUSTER, PRINCIPALS, ClusterSettings, Manifest
from broker.core.deployment.topics import TopicNames

UID = 10001  # the image's user (deploy/Containerfile)
STATE = "/var/lib/broker"  # BROKER_STATE_DIR
KEYS = f"{STATE}/keys"  # BROKER_KEY_DIR: private keys, registry, subject key, data keys
CREDENTIALS = "/etc/broker/kafka"  # BROKER_KAFKA_CREDENTIALS_DIR
KEYS_SECRET = "/etc/broker/keys-secret"  # noqa: S105  (a mount path, not a secret)
POLICIES = "/opt/broker/policies"  # the policies shipped in the image
METRICS_PORT = 9300


@dataclass(frozen=True)
class Process:
    """One long-running process: its name, Kafka principal, command and needs."""

    name: str
    principal: str
    args: tuple[str, ...]  # after the image's entrypoint, `broker`
    persistent: bool  # state that must survive a restart (data keys, witness file)
    metrics: bool = False
    cpu: str = "100m"
    memory: str = "256Mi"


def processes(principals: Principals = PRINCIPALS) -> list[Process]:
    return [
        # data keys (retention) and Faust's state live under the state dir
        Process(
            "broker-worker", principals.worker, ("worker",), True, True, cpu="250m", memory="512Mi"
        ),
        # the witness file (state/audit/) must outlive every restart
        Process("broker-audit-sealer", principals.sealer, ("audit", "seal"), True),
        Process("broker-receipts-relay", principals.relay, ("audit", "relay-receipts"), False),
    ]


def _env(p: Process, names: TopicNames, app_id: str, cluster: ClusterSettings) -> list[Any]:
    env = {
        "BROKER_KAFKA_PROFILE": "secure",
        "BROKER_KAFKA_PRINCIPAL": p.principal,
        "BROKER_BOOTSTRAP": cluster.bootstrap,
        "BROKER_KAFKA_CREDENTIALS_DIR": CREDENTIALS,
        "BROKER_POLICY_DIR": POLICIES,
        "BROKER_STATE_DIR": STATE,
        "BROKER_KEY_DIR": KEYS,
        "BROKER_TOPIC_PREFIX": names.prefix,
        "BROKER_APP_ID": app_id,
    }
    if p.metrics:
        env["BROKER_METRICS_PORT"] = str(METRICS_PORT)
    return [{"name": k, "value": v} for k, v in env.items()]


# The metrics endpoint listens on the pod's loopback only, so the kubelet asks from inside.
_METRICS_UP = (
    "import urllib.request; "
    f"urllib.request.urlopen('http://127.0.0.1:{METRICS_PORT}/metrics', timeout=5).read()"
)
# umask and chmod: owner-only whatever the archive says; tar: no owner from the archive
_INSTALL_KEYS = (
    f"umask 077 && mkdir -p {KEYS} && tar -xf {KEYS_SECRET}/keys.tar -C {KEYS} "
    f"--no-same-owner --no-same-permissions && chmod -R go-rwx {KEYS}"
)
_CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


def _volumes(p: Process, cluster: ClusterSettings) -> list[Any]:
    state: dict[str, Any] = (
        {"persistentVolumeClaim": {"claimName": f"{p.name}-state"}}
        if p.persistent
        else {"emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}}
    )
    folder = f"clients/{p.principal}"
    return [
        {"name": "state", **state},
        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
        {
            "name": "kafka-credentials",
            "projected": {
                "defaultMode": 0o440,
                "sources": [
                    {
                        "secret": {
                            "name": cluster.ca_secret,
                            "items": [{"key": "ca.crt", "path": "ca.crt"}],
                        }
                    },
                    {
                        "secret": {
                            "name": p.principal,
                            "items": [
                                {"key": "user.crt", "path": f"{folder}.crt"},
                                {"key": "user.key", "path": f"{folder}.key"},
                            ],
                        }
                    },
                ],
            },
        },
        {"name": "keys-secret", "secret": {"secretName": f"{p.name}-keys", "defaultMode": 0o440}},
    ]


def _container(
    p: Process, names: TopicNames, app_id: str, cluster: ClusterSettings, image: str
) -> Any:
    container: dict[str, Any] = {
        "name": p.name.removeprefix("broker-"),
        "image": image,
        "args": list(p.args),
        "env": _env(p, names, app_id, cluster),
        "resources": {
            "requests": {"cpu": p.cpu, "memory": p.memory},
            "limits": {"memory": p.memory},
        },
        "securityContext": _CONTAINER_SECURITY,
        "volumeMounts": [
            {"name": "state", "mountPath": STATE},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108  (the container's own emptyDir)
            {"name": "kafka-credentials", "mountPath": CREDENTIALS, "readOnly": True},
        ],
    }
    if p.metrics:
        probe = {"exec": {"command": ["python", "-c", _METRICS_UP]}, "timeoutSeconds": 10}
        container["readinessProbe"] = {**probe, "periodSeconds": 10}
        container["livenessProbe"] = {**probe, "initialDelaySeconds": 60, "periodSeconds": 30}
    return container


def deployment(
    p: Process, names: TopicNames, app_id: str, cluster: ClusterSettings, image: str
) -> Manifest:
    labels = {"app.kubernetes.io/name": p.name, "app.kubernetes.io/part-of": "oslo-share-broker"}
    init = {
        "name": "install-keys",
        "image": image,
        "command": ["sh", "-c", _INSTALL_KEYS],
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}},
        "securityContext": _CONTAINER_SECURITY,
        "volumeMounts": [
            {"name": "state", "mountPath": STATE},
            {"name": "keys-secret", "mountPath": KEYS_SECRET, "readOnly": True},
        ],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": p.name, "labels": labels},
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},  # never two at once (one sealer; state volume)
            "selector": {"matchLabels": {"app.kubernetes.io/name": p.name}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": p.name,
                    "automountServiceAccountToken": False,  # no process talks to the API
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": UID,
                        "runAsGroup": UID,
                        "fsGroup": UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "terminationGracePeriodSeconds": 15,  # the worker exits within 8 s
                    "initContainers": [init],
                    "containers": [_container(p, names, app_id, cluster, image)],
                    "volumes": _volumes(p, cluster),
                },
            },
        },
    }


def workloads(
    names: TopicNames,
    app_id: str,
    cluster: ClusterSettings = DEFAULT_CLUSTER,
    image: str = "oslo-share-broker:0.1.0",
    principals: Principals = PRINCIPALS,
) -> list[Manifest]:
    """Per process: its ServiceAccount, its state claim (if it keeps state) and Deployment."""
    out: list[Manifest] = []
    for p in processes(principals):
        labels = {
            "app.kubernetes.io/name": p.name,
            "app.kubernetes.io/part-of": "oslo-share-broker",
        }
        out.append(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": p.name, "labels": labels},
                "automountServiceAccountToken": False,
            }
        )
        if p.persistent:
            out.append(
                {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "metadata": {"name": f"{p.name}-state", "labels": labels},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "5Gi"}},
                    },
                }
            )
        out.append(deployment(p, names, app_id, cluster, image))
    return out
