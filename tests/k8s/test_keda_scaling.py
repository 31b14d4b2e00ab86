"""Level (c) of issue #12: the KEDA operator and kube-controller-manager against the test
apiserver, a ScaledObject with a ``rabbitmq`` trigger on the real local broker's management API.
A queue backlog raises a Deployment's ``spec.replicas`` from its minimum; a drained queue brings
it back. No kubelet: the test watches the scaling decision, not pods.

Only activation (0 → 1, the operator's own decision) is shown here: 1 → N goes through the HPA
and KEDA's metrics apiserver, an aggregated API not started by this harness."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import httpx
import pytest

from tests.infra import StackInfo
from tests.infra.isolation import rabbit_management, temporary_vhost
from tests.infra.kube import KubeApi
from tests.infra.kube_controllers import keda_operator
from tests.waiting import eventually_sync

pytestmark = [pytest.mark.integration, pytest.mark.slow]

QUEUE = "cdds.test.backlog"
BACKLOG = 500
# Seconds: KEDA polls the queue every POLLING and scales to zero COOLDOWN after it was last active.
POLLING, COOLDOWN = 2, 5


@pytest.fixture(scope="module")
def control_loops(
    kube_api: KubeApi, keda_crds_applied: list[str], kube_controllers: None
) -> Iterator[None]:
    with keda_operator(kube_api):
        yield


@pytest.fixture
def vhost(stack: StackInfo) -> Iterator[str]:
    with temporary_vhost(stack) as amqp_url:
        yield unquote(urlsplit(amqp_url).path.removeprefix("/"))


def _management_host(stack: StackInfo, vhost: str) -> str:
    """KEDA's ``host`` for ``protocol: http``: the management URL with credentials, the vhost
    as its path."""
    user, password = stack.rabbit_operator or (
        unquote(urlsplit(stack.rabbit_url).username or "guest"),
        unquote(urlsplit(stack.rabbit_url).password or "guest"),
    )
    parts = urlsplit(stack.rabbit_management_url)
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{parts.netloc}"
    return urlunsplit(parts._replace(netloc=netloc, path="/" + quote(vhost, safe="")))


def _objects(name: str, host: str) -> list[dict[str, Any]]:
    labels = {"app": name}
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"{name}-rabbit"},
            "data": {"host": base64.b64encode(host.encode()).decode()},
        },
        {
            "apiVersion": "keda.sh/v1alpha1",
            "kind": "TriggerAuthentication",
            "metadata": {"name": f"{name}-rabbit"},
            "spec": {
                "secretTargetRef": [{"parameter": "host", "name": f"{name}-rabbit", "key": "host"}]
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "worker", "image": "cdds/exporter"}]},
                },
            },
        },
        {
            "apiVersion": "keda.sh/v1alpha1",
            "kind": "ScaledObject",
            "metadata": {"name": name},
            "spec": {
                "scaleTargetRef": {"name": name},
                "pollingInterval": POLLING,
                "cooldownPeriod": COOLDOWN,
                "minReplicaCount": 0,
                "maxReplicaCount": 4,
                "triggers": [
                    {
                        "type": "rabbitmq",
                        "metadata": {
                            "protocol": "http",
                            "queueName": QUEUE,
                            "mode": "QueueLength",
                            "value": "50",
                        },
                        "authenticationRef": {"name": f"{name}-rabbit"},
                    }
                ],
            },
        },
    ]


def _publish(api: httpx.Client, vhost: str, count: int) -> None:
    path = f"/api/exchanges/{quote(vhost, safe='')}/amq.default/publish"
    for i in range(count):
        body = {
            "properties": {},
            "routing_key": QUEUE,
            "payload": str(i),
            "payload_encoding": "string",
        }
        assert api.post(path, json=body).json()["routed"] is True


def _queue_depth(api: httpx.Client, vhost: str) -> int:
    queue = api.get(f"/api/queues/{quote(vhost, safe='')}/{quote(QUEUE, safe='')}").json()
    return int(queue.get("messages", 0))


def test_a_backlog_raises_the_replicas_and_a_drained_queue_lowers_them(
    kube_api: KubeApi, control_loops: None, stack: StackInfo, vhost: str, namespace: str
) -> None:
    name = f"worker-{uuid.uuid4().hex[:6]}"
    with rabbit_management(stack) as rabbit:
        rabbit.put(
            f"/api/queues/{quote(vhost, safe='')}/{quote(QUEUE, safe='')}", json={"durable": True}
        ).raise_for_status()
        kube_api.apply(_objects(name, _management_host(stack, vhost)), namespace=namespace)

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
        _publish(rabbit, vhost, BACKLOG)
        # (the management API's counts lag by a stats interval: KEDA reads the same numbers)
        eventually_sync(
            lambda: _queue_depth(rabbit, vhost), lambda n: n == BACKLOG, timeout=30,
            what="queue depth",
        )  # fmt: skip
        # Then the Deployment is scaled up from its minimum
        eventually_sync(
            replicas, lambda n: n >= 1, timeout=90, what="spec.replicas under a backlog"
        )
        # When the queue is drained
        rabbit.delete(
            f"/api/queues/{quote(vhost, safe='')}/{quote(QUEUE, safe='')}/contents"
        ).raise_for_status()
        # Then it falls back to zero after the cooldown
        eventually_sync(replicas, lambda n: n == 0, timeout=90, what="spec.replicas once drained")
