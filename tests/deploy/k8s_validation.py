"""Offline validation of the kustomize manifests (level a of docs/deploy.md § What is validated).

Render an overlay with the cached kustomize, check each object against the strict Kubernetes
schemas bundled in ``kubernetes-validate`` (unknown fields rejected) and each KEDA object against
the ``openAPIV3Schema`` of its CRD, tightened so that unknown fields are rejected there too.
"""

from __future__ import annotations

import copy
import functools
import re
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import yaml
from kubernetes_validate.utils import schema_contents  # type: ignore[import-untyped]
from referencing import Registry, Resource

from tests.infra.kube_tools import VERSIONS, keda_crds, tool

__all__ = [
    "KEDA_GROUP",
    "core_errors",
    "keda_errors",
    "pod_templates",
    "render",
    "selects",
]

KEDA_GROUP = "keda.sh"
Object = dict[str, Any]


def render(kustomization: Path) -> list[Object]:
    """``kustomize build`` of a directory, as plain objects; a failed build fails the caller."""
    done = subprocess.run(
        [str(tool("kustomize")), "build", str(kustomization)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"kustomize build {kustomization}: {done.stderr}"
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def _name(obj: Mapping[str, Any]) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


@functools.cache
def _core_validator(api_version: str, kind: str) -> Any:
    """The strict validator of ``kind``, as ``kubernetes_validate.validate`` builds it, made once
    (that function re-reads the 10 MB of definitions on every call)."""
    version = VERSIONS["KUBERNETES_VERSION"].removeprefix("v")
    schema_dir = f"kubernetes-json-schema/v{version.rsplit('.', 1)[0]}.0-local-strict"
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = schema_contents(f"{schema_dir}/{kind.lower()}-{group}.json", version)
    except FileNotFoundError:
        return None
    definitions = schema_contents(f"{schema_dir}/_definitions.json", version)
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.Draft202012Validator(schema, registry=registry)


def core_errors(objects: Iterable[Object]) -> list[str]:
    """Every object outside KEDA's group against the strict Kubernetes schemas of
    KUBERNETES_VERSION (those ``kubernetes-validate`` bundles)."""
    errors: list[str] = []
    for obj in objects:
        api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
        if api_version.startswith(f"{KEDA_GROUP}/"):
            continue
        validator = _core_validator(api_version, kind)
        if validator is None:
            # A kind with no schema is not silently valid.
            errors.append(f"{_name(obj)}: no schema for {api_version}")
            continue
        errors += [
            f"{_name(obj)} {'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(obj)
        ]
    return errors


def _closed(schema: Any) -> Any:
    """The schema with ``additionalProperties: false`` wherever it lists ``properties`` and says
    nothing else about extra keys: Kubernetes prunes unknown fields of a CRD silently, which is
    exactly what a typo would go through; here it is an error."""
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    closed = {key: _closed(value) for key, value in schema.items()}
    open_ended = "additionalProperties" in schema or schema.get(
        "x-kubernetes-preserve-unknown-fields"
    )
    if "properties" in schema and not open_ended:
        closed["additionalProperties"] = False
    return closed


@functools.cache
def _keda_schemas() -> dict[tuple[str, str], Any]:
    """(apiVersion, kind) -> closed openAPIV3Schema, from the CRDs of KEDA_VERSION."""
    schemas: dict[tuple[str, str], Any] = {}
    for path in sorted(keda_crds().glob("*.yaml")):
        # The C loader: the CRDs are 1 MB of YAML.
        crd = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
        spec = crd["spec"]
        for version in spec["versions"]:
            api_version = f"{spec['group']}/{version['name']}"
            schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
            schemas[(api_version, spec["names"]["kind"])] = _closed(schema)
    return schemas


def keda_errors(objects: Iterable[Object]) -> list[str]:
    """Every KEDA object (ScaledObject, TriggerAuthentication …) against its CRD's schema."""
    schemas = _keda_schemas()
    errors: list[str] = []
    for obj in objects:
        api_version = str(obj.get("apiVersion", ""))
        if not api_version.startswith(f"{KEDA_GROUP}/"):
            continue
        schema = schemas.get((api_version, str(obj.get("kind"))))
        if schema is None:
            errors.append(f"{_name(obj)}: no KEDA CRD for {api_version}")
            continue
        validator = jsonschema.Draft7Validator(schema)
        errors += [
            f"{_name(obj)} {'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(obj)
        ]
    return errors


def pod_templates(objects: Iterable[Object]) -> dict[str, Object]:
    """``Kind/name`` -> pod template of every workload (Deployment, StatefulSet, Job)."""
    return {
        _name(obj): obj["spec"]["template"]
        for obj in objects
        if obj.get("kind") in {"Deployment", "StatefulSet", "Job"}
    }


def selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether a Kubernetes label selector (matchLabels, matchExpressions) matches ``labels``."""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        present = key in labels
        matched = {
            "In": present and labels[key] in values,
            "NotIn": not present or labels[key] not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }[op]
        if not matched:
            return False
    return True
