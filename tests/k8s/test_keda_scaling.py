"""Level (c) of docs/deploy.md § What is validated: the KEDA operator and kube-controller-manager
against the test
apiserver, a ScaledObject with a ``rabbitmq`` trigger on the real local broker's management API.
A queue backlog raises a Deployment's ``spec.replicas`` from its minimum; a drained queue brings
it back. No kubelet: the test watches the scaling decision, not pods.

Only activation (0 → 1, the operator's own decision) is shown here: 1 → N goes through the HPA
and KEDA's metrics apiserver (``test_keda_scale_out.py``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.infra import StackInfo
from tests.infra.isolation import rabbit_management
from tests.infra.kube import KubeApi
from tests.infra.kube_controllers import keda_operator
from tests.k8s.keda_rabbit import management_host, publish, queue_depth, queue_path, scaled_worker
from tests.waiting import eventually_sync

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BACKLOG = 500
# Seconds: KEDA polls the queue every POLLING and scales to zero COOLDOWN after it was last active.
POLLING, COOLDOWN = 2, 5


@pytest.fixture(scope="module")
def control_loops(
    kube_api: KubeApi, keda_crds_applied: list[str], kube_controllers: None
) -> Iterator[None]:
    with keda_operator(kube_api):
        yield


def test_a_backlog_raises_the_replicas_and_a_drained_queue_lowers_them(
    kube_api: KubeApi, control_loops: None, stack: StackInfo, vhost: str, namespace: str
) -> None:
    name = f"worker-{uuid.uuid4().hex[:6]}"
    with rabbit_management(stack) as rabbit:
        rabbit.put(queue_path(vhost), json={"durable": True}).raise_for_status()
        worker = scaled_worker(
            name, management_host(stack, vhost), min_replicas=0, max_replicas=4,
            scaled_object={"pollingInterval": POLLING, "cooldownPeriod": COOLDOWN},
        )  # fmt: skip
        kube_api.apply(worker, namespace=namespace)

        def replicas() -> int:
            return int(kube_api.get("apps/v1", "Deployment", name, namespace).spec.replicas or 0)

        def scaled_object_ready() -> dict[str, str]:
            status = kube_api.get("keda.sh/v1alpha1", "ScaledObject", name, namespace).status
            return {c["type"]: c["status"] for c in (status or {}).get("conditions") or []}

        # Given KEDA has taken the ScaledObject on (its HPA made, the trigger read) at zero
        eventually_sync(
            scaled_object_ready, lambda c: c.get("Ready") == "True", timeout=120,
            what="ScaledObject Ready",
        )  # fmt: skip
        assert replicas() == 0
        # When a backlog builds up
        publish(rabbit, vhost, BACKLOG)
        # (the management API's counts lag by a stats interval: KEDA reads the same numbers)
        eventually_sync(
            lambda: queue_depth(rabbit, vhost), lambda n: n == BACKLOG, timeout=30,
            what="queue depth",
        )  # fmt: skip
        # Then the Deployment is scaled up from its minimum
        eventually_sync(
            replicas, lambda n: n >= 1, timeout=90, what="spec.replicas under a backlog"
        )
        # When the queue is drained
        rabbit.delete(f"{queue_path(vhost)}/contents").raise_for_status()
        # Then it falls back to zero after the cooldown
        eventually_sync(replicas, lambda n: n == 0, timeout=90, what="spec.replicas once drained")
