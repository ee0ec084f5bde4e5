"""Offline validation of Kubernetes manifests against the schemas vendored in deploy/k8s/schemas
(see its README: Strimzi 1.2.0's CRDs, Kubernetes 1.34's JSON schemas), with `jsonschema`.

Strict like kubeconform's -strict: an object schema that lists its properties and says nothing of
others gets ``additionalProperties: false`` (the API server would prune an unknown field
silently; here it is an error), unless it is marked x-kubernetes-preserve-unknown-fields (Kafka's
``config``). The CRDs' CEL rules (x-kubernetes-validations) are not evaluated.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource

from tests.conftest import ROOT

SCHEMAS = ROOT / "deploy" / "k8s" / "schemas"
STRIMZI = SCHEMAS / "strimzi-1.2.0"
KUBERNETES = SCHEMAS / "kubernetes-1.34.0"
K8S_FILES = {
    ("apps/v1", "Deployment"): "deployment-apps-v1.json",
    ("v1", "ServiceAccount"): "serviceaccount-v1.json",
    ("v1", "PersistentVolumeClaim"): "persistentvolumeclaim-v1.json",
}

Validator = Any  # jsonschema's validators share no public base class with types


def strict(node: Any) -> Any:
    """A copy of an OpenAPI v3 schema that refuses properties it does not list."""
    if isinstance(node, list):
        return [strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: strict(v) for k, v in node.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@cache
def validators() -> Mapping[tuple[str, str], Validator]:
    """(apiVersion, kind) -> a validator, for every served CRD version and Kubernetes kind."""
    found: dict[tuple[str, str], Validator] = {}
    for path in sorted(STRIMZI.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text(encoding="utf-8"))
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if version.get("served"):
                schema = strict(version["schema"]["openAPIV3Schema"])
                found[(f"{group}/{version['name']}", kind)] = jsonschema.Draft4Validator(schema)
    definitions = json.loads((KUBERNETES / "_definitions.json").read_text(encoding="utf-8"))
    registry: Registry[Any] = Registry().with_resource(
        definitions["$id"], Resource.from_contents(definitions)
    )
    for key, name in K8S_FILES.items():
        schema = json.loads((KUBERNETES / name).read_text(encoding="utf-8"))
        found[key] = jsonschema.Draft202012Validator(schema, registry=registry)
    return found


def problems(doc: Mapping[str, Any], source: str = "") -> list[str]:
    """What is wrong with one manifest: '<source> <Kind>/<name>: <path>: <reason>' each."""
    kind, name = doc.get("kind"), (doc.get("metadata") or {}).get("name")
    where = f"{source} {kind}/{name}".strip()
    validator = validators().get((str(doc.get("apiVersion")), str(kind)))
    if validator is None:
        return [f"{where}: no schema for apiVersion {doc.get('apiVersion')} kind {kind}"]
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{where}: /{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]


def load(paths: Iterable[Path]) -> list[tuple[str, dict[str, Any]]]:
    """Every document of the YAML files, with the file it came from."""
    docs = []
    for path in paths:
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc is not None:
                docs.append((path.name, doc))
    return docs
