"""What the KEDA scaling tests of ``tests/k8s/`` share: a Deployment scaled by a ScaledObject with
a ``rabbitmq`` trigger (``protocol: http``, ``mode: QueueLength``) on the real local broker's
management API, and the backlog on its queue, published and counted through that API."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import httpx

from tests.infra import StackInfo

__all__ = [
    "QUEUE",
    "TARGET",
    "management_host",
    "publish",
    "queue_depth",
    "queue_path",
    "scaled_worker",
]

QUEUE = "cdds.test.backlog"
# Messages per replica: the trigger's ``value``, the HPA's AverageValue target.
TARGET = 50


def management_host(stack: StackInfo, vhost: str) -> str:
    """KEDA's ``host`` for ``protocol: http``: the management URL with credentials, the vhost
    as its path."""
    user, password = stack.rabbit_operator or (
        unquote(urlsplit(stack.rabbit_url).username or "guest"),
        unquote(urlsplit(stack.rabbit_url).password or "guest"),
    )
    parts = urlsplit(stack.rabbit_management_url)
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{parts.netloc}"
    return urlunsplit(parts._replace(netloc=netloc, path="/" + quote(vhost, safe="")))


def scaled_worker(
    name: str, host: str, *, min_replicas: int, max_replicas: int, scaled_object: dict[str, Any]
) -> list[dict[str, Any]]:
    """A Deployment at ``min_replicas`` and its ScaledObject (``scaled_object``: extra spec
    fields, e.g. ``pollingInterval``), with the Secret and TriggerAuthentication holding
    ``host``."""
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
                "replicas": min_replicas,
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
                "minReplicaCount": min_replicas,
                "maxReplicaCount": max_replicas,
                **scaled_object,
                "triggers": [
                    {
                        "type": "rabbitmq",
                        "metadata": {
                            "protocol": "http",
                            "queueName": QUEUE,
                            "mode": "QueueLength",
                            "value": str(TARGET),
                        },
                        "authenticationRef": {"name": f"{name}-rabbit"},
                    }
                ],
            },
        },
    ]


def queue_path(vhost: str, queue: str = QUEUE) -> str:
    return f"/api/queues/{quote(vhost, safe='')}/{quote(queue, safe='')}"


def publish(api: httpx.Client, vhost: str, count: int, queue: str = QUEUE) -> None:
    path = f"/api/exchanges/{quote(vhost, safe='')}/amq.default/publish"
    for i in range(count):
        body = {
            "properties": {},
            "routing_key": queue,
            "payload": str(i),
            "payload_encoding": "string",
        }
        assert api.post(path, json=body).json()["routed"] is True


def queue_depth(api: httpx.Client, vhost: str, queue: str = QUEUE) -> int:
    return int(api.get(queue_path(vhost, queue)).json().get("messages", 0))
