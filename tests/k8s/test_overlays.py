"""The real deployment (``deploy/k8s/overlays/dev`` and ``prod``) against a real kube-apiserver
(docs/deploy.md § What is validated, levels b and c).

Level b: every rendered object is admitted by the server on a dry run, then stored in the
overlay's own namespace and read back as rendered; a broken object is refused. Level c: the
exporter's own ScaledObject, Deployment and TriggerAuthentication, as rendered, under the KEDA
operator and kube-controller-manager, scale the Deployment on a real backlog of its queue.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from kubernetes.dynamic.exceptions import ApiException

from tests.infra import StackInfo
from tests.infra.isolation import rabbit_management
from tests.infra.kube import KubeApi, kustomize_build
from tests.k8s.test_keda_scaling import (
    _management_host,
    control_loops,  # noqa: F401 - a fixture, requested by name
    vhost,  # noqa: F401 - a fixture, requested by name
)
from tests.waiting import eventually_sync

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# ruff: noqa: F811 - the fixtures imported above are requested by name

OVERLAYS = Path(__file__).resolve().parents[2] / "deploy/k8s/overlays"


def rendered(overlay: str) -> list[dict[str, Any]]:
    return kustomize_build(OVERLAYS / overlay)


def one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def differences(stored: Any, wanted: Any, path: str = "") -> list[str]:
    """Where ``stored`` (as the server keeps it) does not hold what was ``wanted``: every
    rendered field is there with its value; the server may add defaults beside them."""
    if isinstance(wanted, dict):
        if not isinstance(stored, dict):
            return [f"{path}: {stored!r} is not an object"]
        return [d for k, v in wanted.items() for d in differences(stored.get(k), v, f"{path}.{k}")]
    if isinstance(wanted, list):
        if not isinstance(stored, list) or len(stored) != len(wanted):
            return [f"{path}: {stored!r} != {wanted!r}"]
        return [d for i, (s, w) in enumerate(zip(stored, wanted, strict=True)) for d in
                differences(s, w, f"{path}[{i}]")]  # fmt: skip
    return [] if stored == wanted else [f"{path}: {stored!r} != {wanted!r}"]


@pytest.fixture(params=["dev", "prod"])
def overlay(request: pytest.FixtureRequest, kube_api: KubeApi) -> Iterator[tuple[str, str]]:
    """An overlay's name and its namespace, created for it (each overlay renders its own)."""
    objects = rendered(request.param)
    (namespace,) = {o["metadata"]["namespace"] for o in objects if "namespace" in o["metadata"]}
    kube_api.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}])
    yield request.param, namespace
    kube_api.resource("v1", "Namespace").delete(name=namespace)


def test_every_object_is_admitted_stored_and_read_back(
    kube_api: KubeApi, keda_crds_applied: list[str], overlay: tuple[str, str]
) -> None:
    name, namespace = overlay
    objects = rendered(name)

    kube_api.apply(objects, dry_run=True)
    for obj in objects:  # the dry run stored nothing
        with pytest.raises(ApiException) as absent:
            kube_api.get(obj["apiVersion"], obj["kind"], obj["metadata"]["name"], namespace)
        assert absent.value.status == 404
    kube_api.apply(objects)

    for obj in objects:
        stored = kube_api.get(obj["apiVersion"], obj["kind"], obj["metadata"]["name"], namespace)
        wanted = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
        kept = stored.to_dict()
        if obj["kind"] == "Secret":  # base64 as bytes: kustomize folds its lines, the server not
            kept["data"], wanted["data"] = _decoded(kept["data"]), _decoded(wanted["data"])
        assert differences(kept, wanted) == [], (obj["kind"], obj["metadata"]["name"])


def _decoded(data: dict[str, str]) -> dict[str, bytes]:
    return {key: base64.b64decode(value) for key, value in data.items()}


@pytest.mark.parametrize(
    ("kind", "name", "break_it"),
    [
        (
            "Deployment",
            "cdds-exporter",
            lambda o: o["spec"]["template"]["spec"]["containers"][0]["securityContext"].update(
                readOnlyRootFS=True
            ),
        ),
        ("ScaledObject", "cdds-exporter", lambda o: o["spec"].update(coolDownPeriod=300)),
        (
            "HorizontalPodAutoscaler",
            "cdds-gateway",
            lambda o: o["spec"].update(maxReplicas="six"),
        ),
    ],
)
def test_a_broken_object_of_the_deployment_is_refused(
    kube_api: KubeApi,
    keda_crds_applied: list[str],
    namespace: str,
    kind: str,
    name: str,
    break_it: Any,
) -> None:
    broken = copy.deepcopy(one(rendered("prod"), kind, name))
    broken["metadata"].pop("namespace")
    break_it(broken)
    with pytest.raises(ApiException) as refused:
        kube_api.apply([broken], namespace=namespace, dry_run=True)
    assert refused.value.status in (400, 422, 500), refused.value  # 500: see test_harness.py
    field = {"Deployment": "readOnlyRootFS", "ScaledObject": "coolDownPeriod"}.get(
        kind, "maxReplicas"
    )
    assert field in str(refused.value.body), refused.value.body


# Level c: the rendered exporter scaling, made to poll a test virtual host quickly.
POLLING, COOLDOWN = 2, 5


def exporter_scaling(host: str, vhost: str) -> list[dict[str, Any]]:
    """The prod overlay's exporter Deployment, ScaledObject and TriggerAuthentication as rendered,
    with the Secret an operator creates. Changed for a test, and only this: the queues' virtual
    host, faster polling, and ``minReplicaCount`` 0 — the scale from 0 to 1 is the KEDA
    operator's own decision; from 1 up it is the HPA's, which needs KEDA's metrics apiserver."""
    objects = rendered("prod")
    picked = [
        copy.deepcopy(one(objects, "Deployment", "cdds-exporter")),
        copy.deepcopy(one(objects, "TriggerAuthentication", "cdds-keda-rabbitmq")),
        copy.deepcopy(one(objects, "ScaledObject", "cdds-exporter")),
    ]
    for obj in picked:
        obj["metadata"].pop("namespace")
    scaled = picked[-1]["spec"]
    scaled.update(pollingInterval=POLLING, cooldownPeriod=COOLDOWN, minReplicaCount=0)
    scaled.pop("advanced", None)  # the HPA's 120 s scale-down window: not the operator's 1 -> 0
    for trigger in scaled["triggers"]:
        trigger["metadata"]["vhostName"] = vhost
    # What KEDA resolves of the Deployment (its env) must exist, as on a cluster: the rendered
    # ConfigMap, and the Secrets the operator creates (docs/deploy.md), here with test values.
    config = [copy.deepcopy(o) for o in objects if o["kind"] == "ConfigMap"]
    keys: dict[str, dict[str, bytes]] = {"cdds-keda-rabbitmq": {"host": host.encode()}}
    for env in picked[0]["spec"]["template"]["spec"]["containers"][0]["env"]:
        ref = env.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            keys.setdefault(ref["name"], {})[ref["key"]] = f"test value of {env['name']}".encode()
    secrets = [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name},
            "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
        }
        for name, data in keys.items()
    ]
    for obj in config:
        obj["metadata"].pop("namespace")
    return [*config, *secrets, *picked]


def test_the_exporters_scaled_object_follows_its_queue(
    kube_api: KubeApi, control_loops: None, stack: StackInfo, vhost: str, namespace: str
) -> None:
    queue = "cdds.exporter.export-partition"
    objects = exporter_scaling(_management_host(stack, vhost), vhost)
    scaled = objects[-1]
    assert {t["metadata"]["queueName"] for t in scaled["spec"]["triggers"]} >= {queue}
    with rabbit_management(stack) as rabbit:
        where = f"/api/queues/{quote(vhost, safe='')}"
        for trigger in scaled["spec"]["triggers"]:
            name = quote(trigger["metadata"]["queueName"], safe="")
            rabbit.put(f"{where}/{name}", json={"durable": True}).raise_for_status()
        kube_api.apply(objects, namespace=namespace)

        def replicas() -> int:
            deployment = kube_api.get("apps/v1", "Deployment", "cdds-exporter", namespace)
            return int(deployment.spec.replicas or 0)

        def conditions() -> dict[str, str]:
            status = kube_api.get("keda.sh/v1alpha1", "ScaledObject", "cdds-exporter", namespace)
            found = (status.status or {}).get("conditions") or []
            return {
                c["type"]: f"{c['status']} {c.get('reason')}: {c.get('message')}" for c in found
            }

        # Given KEDA took the ScaledObject on, and nothing is queued: at its minimum
        eventually_sync(
            conditions, lambda c: c.get("Ready", "").startswith("True"), timeout=120,
            what="ScaledObject Ready",
        )  # fmt: skip
        eventually_sync(
            lambda: (replicas(), conditions()), lambda seen: seen[0] == 0, timeout=120,
            what="exporter at its minimum",
        )  # fmt: skip
        # When partitions are queued (ten replicas' worth at value 2)
        _publish_to(rabbit, vhost, queue, 20)
        # Then the exporter is scaled up
        eventually_sync(replicas, lambda n: n >= 1, timeout=90, what="spec.replicas, backlog")
        # And back to its minimum once the queue drained
        rabbit.delete(f"{where}/{quote(queue, safe='')}/contents").raise_for_status()
        eventually_sync(replicas, lambda n: n == 0, timeout=90, what="spec.replicas, drained")


def _publish_to(rabbit: Any, vhost: str, queue: str, count: int) -> None:
    path = f"/api/exchanges/{quote(vhost, safe='')}/amq.default/publish"
    for i in range(count):
        body = {
            "properties": {},
            "routing_key": queue,
            "payload": str(i),
            "payload_encoding": "string",
        }
        assert rabbit.post(path, json=body).json()["routed"] is True
    eventually_sync(
        lambda: _depth(rabbit, vhost, queue),
        lambda n: n == count,
        timeout=30,
        what=f"{queue} depth",
    )


def _depth(rabbit: Any, vhost: str, queue: str) -> int:
    found = rabbit.get(f"/api/queues/{quote(vhost, safe='')}/{quote(queue, safe='')}").json()
    return int(found.get("messages", 0))
