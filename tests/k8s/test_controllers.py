"""kube-controller-manager against the test apiserver: its control loops act (a Deployment
gets its ReplicaSet), the base the KEDA scaling test stands on."""

from __future__ import annotations

import pytest

from tests.infra.kube import KubeApi
from tests.waiting import eventually_sync

pytestmark = pytest.mark.integration


def test_a_deployment_gets_its_replica_set(
    kube_api: KubeApi, kube_controllers: None, namespace: str
) -> None:
    labels = {"app": "worker"}
    kube_api.apply(
        [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "worker"},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {"containers": [{"name": "worker", "image": "cdds/exporter"}]},
                    },
                },
            }
        ],
        namespace=namespace,
    )

    def replica_sets() -> list[tuple[str, int]]:
        listed = kube_api.resource("apps/v1", "ReplicaSet").get(namespace=namespace)
        return [(rs.metadata.ownerReferences[0].name, rs.spec.replicas) for rs in listed.items]

    assert eventually_sync(replica_sets, timeout=60, what="the Deployment's ReplicaSet") == [
        ("worker", 2)
    ]
