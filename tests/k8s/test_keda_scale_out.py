"""Level (c) of docs/deploy.md § What is validated, beyond activation: 1 → N. A ScaledObject
with ``minReplicaCount: 1``
leaves the scaling to the HPA KEDA makes for it, which reads the trigger's value through KEDA's
metrics apiserver (``external.metrics.k8s.io``, ``tests/infra/kube_metrics_api.py``) and the
operator's gRPC metrics service. A backlog on the queue raises the Deployment's ``spec.replicas``
to ``maxReplicaCount``; a drained queue brings it back to 1. No kubelet, no pods: with an
External metric and an ``AverageValue`` target the HPA wants ceil(value / target) replicas
without any pod metrics."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes.dynamic.exceptions import NotFoundError

from tests.infra import StackInfo
from tests.infra.isolation import rabbit_management
from tests.infra.kube import KubeApi
from tests.infra.kube_controllers import keda_operator
from tests.infra.kube_metrics_api import keda_metrics_apiserver
from tests.infra.provide import free_port
from tests.k8s.keda_rabbit import (
    TARGET,
    management_host,
    publish,
    queue_depth,
    queue_path,
    scaled_worker,
)
from tests.waiting import eventually_sync

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MAX_REPLICAS = 4
# Twice what MAX_REPLICAS replicas at TARGET each would take: the HPA wants more than the maximum.
BACKLOG = 2 * MAX_REPLICAS * TARGET
POLLING = 2
# The HPA's default scale-down waits out a 300 s stabilization window; none here, so the drained
# queue shows within the test's deadline.
SCALE_DOWN_NOW = {
    "horizontalPodAutoscalerConfig": {"behavior": {"scaleDown": {"stabilizationWindowSeconds": 0}}}
}


@pytest.fixture(scope="module")
def control_loops(
    kube_api: KubeApi, keda_crds_applied: list[str], kube_controllers: None
) -> Iterator[None]:
    grpc_port = free_port()
    with (
        keda_operator(kube_api, metrics_service_port=grpc_port),
        keda_metrics_apiserver(kube_api, grpc_port),
    ):
        yield


def _hpa_conditions(kube_api: KubeApi, name: str, namespace: str) -> dict[str, Any]:
    """The conditions of the HPA KEDA made (``keda-hpa-<name>``), for a failure's message."""
    hpa = kube_api.get("autoscaling/v2", "HorizontalPodAutoscaler", f"keda-hpa-{name}", namespace)
    conditions = (hpa.status or {}).get("conditions") or []
    return {c["type"]: f"{c['status']} {c.get('reason')}: {c.get('message')}" for c in conditions}


def test_a_backlog_scales_out_to_the_maximum_and_a_drained_queue_back_to_one(
    kube_api: KubeApi, control_loops: None, stack: StackInfo, vhost: str, namespace: str
) -> None:
    name = f"worker-{uuid.uuid4().hex[:6]}"
    with rabbit_management(stack) as rabbit:
        rabbit.put(queue_path(vhost), json={"durable": True}).raise_for_status()
        worker = scaled_worker(
            name, management_host(stack, vhost), min_replicas=1, max_replicas=MAX_REPLICAS,
            scaled_object={"pollingInterval": POLLING, "advanced": SCALE_DOWN_NOW},
        )  # fmt: skip
        kube_api.apply(worker, namespace=namespace)

        def replicas() -> int:
            return int(kube_api.get("apps/v1", "Deployment", name, namespace).spec.replicas or 0)

        def hpa_reads_the_metric() -> dict[str, Any]:
            return _hpa_conditions(kube_api, name, namespace)

        # Given KEDA's HPA reads the queue's (empty) metric through the metrics apiserver
        eventually_sync(
            hpa_reads_the_metric,
            lambda c: c.get("ScalingActive", "").startswith("True"),
            timeout=120,
            interval=1,
            what="the HPA's ScalingActive condition",
            ignoring=(NotFoundError,),  # until KEDA has made it
        )
        assert replicas() == 1
        # When a backlog builds up beyond what MAX_REPLICAS replicas are meant to hold
        publish(rabbit, vhost, BACKLOG)
        eventually_sync(
            lambda: queue_depth(rabbit, vhost), lambda n: n == BACKLOG, timeout=30,
            what="queue depth",
        )  # fmt: skip
        # Then the HPA scales the Deployment out to the maximum
        try:
            eventually_sync(
                replicas, lambda n: n == MAX_REPLICAS, timeout=120, interval=1,
                what="spec.replicas under a backlog",
            )  # fmt: skip
        except AssertionError as error:
            pytest.fail(f"{error}; HPA: {hpa_reads_the_metric()}", pytrace=False)
        # When the queue is drained
        rabbit.delete(f"{queue_path(vhost)}/contents").raise_for_status()
        # Then it comes back to the minimum, one
        try:
            eventually_sync(
                replicas, lambda n: n == 1, timeout=120, interval=1,
                what="spec.replicas once drained",
            )  # fmt: skip
        except AssertionError as error:
            pytest.fail(f"{error}; HPA: {hpa_reads_the_metric()}", pytrace=False)
