"""The test control plane itself: it stores what it is given, refuses what is invalid (also on a
server-side dry run, which stores nothing), and speaks KEDA once its CRDs are applied."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.dynamic.exceptions import ApiException, NotFoundError

from tests.infra.kube import KubeApi, kustomize_build

pytestmark = pytest.mark.integration


def _config_map(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def _scaled_object(name: str, **spec_extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {"name": "exporter"},
            "minReplicaCount": 0,
            "maxReplicaCount": 4,
            "triggers": [
                {
                    "type": "rabbitmq",
                    "metadata": {
                        "protocol": "http",
                        "queueName": "cdds.partitions",
                        "mode": "QueueLength",
                        "value": "50",
                    },
                }
            ],
            **spec_extra,
        },
    }


def test_a_config_map_is_stored_and_read_back(kube_api: KubeApi, namespace: str) -> None:
    kube_api.apply([_config_map("settings", CDDS_LOG_LEVEL="info")], namespace=namespace)

    stored = kube_api.get("v1", "ConfigMap", "settings", namespace)

    assert stored.data.CDDS_LOG_LEVEL == "info"
    assert stored.metadata.namespace == namespace


def test_a_dry_run_is_validated_by_the_server_and_stores_nothing(
    kube_api: KubeApi, namespace: str
) -> None:
    kube_api.apply([_config_map("dry", key="value")], namespace=namespace, dry_run=True)

    with pytest.raises(NotFoundError):
        kube_api.get("v1", "ConfigMap", "dry", namespace)


@pytest.mark.parametrize(
    ("broken", "reason"),
    [
        # An invalid name (not a DNS-1123 subdomain): 422 Invalid.
        (_config_map("Not_A_Name", key="value"), "Invalid"),
        # A typo'd field: refused under strict field validation, not silently dropped.
        ({**_config_map("typo"), "dta": {"key": "value"}}, "dta"),
        # A Deployment with negative replicas and no containers.
        (
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "broken"},
                "spec": {
                    "replicas": -1,
                    "selector": {"matchLabels": {"app": "x"}},
                    "template": {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": []}},
                },
            },
            "replicas",
        ),
    ],
    ids=["bad-name", "unknown-field", "bad-deployment"],
)
def test_a_broken_object_is_refused_on_a_dry_run(
    kube_api: KubeApi, namespace: str, broken: dict[str, Any], reason: str
) -> None:
    with pytest.raises(ApiException) as refused:
        kube_api.apply([broken], namespace=namespace, dry_run=True)

    # 422 Invalid for a bad value; an undeclared field fails server-side apply's typed patch
    # ("field not declared in schema"), which this apiserver answers with 500: refused all the same.
    assert refused.value.status in (400, 422, 500)
    assert reason in str(refused.value.body)


def test_keda_crds_are_established(kube_api: KubeApi, keda_crds_applied: list[str]) -> None:
    assert {"scaledobjects.keda.sh", "triggerauthentications.keda.sh"} <= set(keda_crds_applied)


def test_a_scaled_object_is_checked_against_keda_s_schema(
    kube_api: KubeApi, keda_crds_applied: list[str], namespace: str
) -> None:
    kube_api.apply([_scaled_object("good", cooldownPeriod=10)], namespace=namespace, dry_run=True)

    with pytest.raises(ApiException) as refused:
        kube_api.apply(
            [_scaled_object("typo", coolDownPeriod=10)], namespace=namespace, dry_run=True
        )

    assert refused.value.status in (400, 422, 500)
    assert "coolDownPeriod" in str(refused.value.body)


def test_a_kustomize_build_applies_on_a_dry_run_then_for_real(
    kube_api: KubeApi, namespace: str, tmp_path: Path
) -> None:
    # Given a kustomization rendering a generated ConfigMap and a Deployment into a namespace
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "namespace": namespace,
                "configMapGenerator": [{"name": "settings", "literals": ["CDDS_LOG_LEVEL=info"]}],
                "resources": ["worker.yaml"],
            }
        )
    )
    (tmp_path / "worker.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "worker"},
                "spec": {
                    "selector": {"matchLabels": {"app": "worker"}},
                    "template": {
                        "metadata": {"labels": {"app": "worker"}},
                        "spec": {
                            "containers": [
                                {
                                    "name": "worker",
                                    "image": "cdds/exporter",
                                    "envFrom": [{"configMapRef": {"name": "settings"}}],
                                }
                            ]
                        },
                    },
                },
            }
        )
    )
    objects = kustomize_build(tmp_path)
    # When it is applied on a dry run, then for real
    kube_api.apply(objects, dry_run=True)
    kube_api.apply(objects)
    # Then the Deployment reads the ConfigMap by its generated (hashed) name
    config_map = next(o for o in objects if o["kind"] == "ConfigMap")["metadata"]["name"]
    deployment = kube_api.get("apps/v1", "Deployment", "worker", namespace)
    env_from = deployment.spec.template.spec.containers[0].envFrom[0].configMapRef.name
    assert env_from == config_map != "settings"
    assert kube_api.get("v1", "ConfigMap", config_map, namespace).data.CDDS_LOG_LEVEL == "info"
