"""The real deployment (``deploy/k8s/overlays/dev`` and ``prod``) against a real kube-apiserver
(docs/deploy.md § What is validated, levels b and c).

Level b: every rendered object is admitted by the server on a dry run, then stored in the
overlay's own namespace and read back as rendered; a broken object is refused. Level c: the
exporter's own ScaledObject, Deployment and TriggerAuthentication, as rendered, under the KEDA
operator, its metrics apiserver and kube-controller-manager, scale the Deployment from its
minimum to its maximum on a real backlog of its queue, and back.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes.dynamic.exceptions import ApiException, NotFoundError

from tests.infra import StackInfo
from tests.infra.isolation import rabbit_management
from tests.infra.kube import KubeApi, kustomize_build
from tests.k8s.keda_rabbit import management_host, publish, queue_depth, queue_path
from tests.k8s.test_keda_scale_out import (
    SCALE_DOWN_NOW,
    _hpa_conditions,
    control_loops,  # noqa: F401 - a fixture (operator + metrics apiserver), requested by name
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
POLLING = 2


def exporter_scaling(host: str, vhost: str) -> list[dict[str, Any]]:
    """The prod overlay's exporter Deployment, ScaledObject and TriggerAuthentication as rendered,
    with the Secrets an operator creates. Changed for a test, and only this: the queues' virtual
    host, 2 s polling, and no scale-down stabilization (120 s in the overlay)."""
    objects = rendered("prod")
    picked = [
        copy.deepcopy(one(objects, "Deployment", "cdds-exporter")),
        copy.deepcopy(one(objects, "TriggerAuthentication", "cdds-keda-rabbitmq")),
        copy.deepcopy(one(objects, "ScaledObject", "cdds-exporter")),
    ]
    for obj in picked:
        obj["metadata"].pop("namespace")
    scaled = picked[-1]["spec"]
    scaled.update(pollingInterval=POLLING, advanced=SCALE_DOWN_NOW)
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


def test_the_exporters_scaled_object_scales_out_on_its_queue_and_back(
    kube_api: KubeApi, control_loops: None, stack: StackInfo, vhost: str, namespace: str
) -> None:
    """The real numbers: minimum 1, maximum 8, value 2 (the prefetch) on export-partition."""
    queue = "cdds.exporter.export-partition"
    objects = exporter_scaling(management_host(stack, vhost), vhost)
    spec = objects[-1]["spec"]
    low, high = spec["minReplicaCount"], spec["maxReplicaCount"]
    (value,) = [
        t["metadata"]["value"] for t in spec["triggers"] if t["metadata"]["queueName"] == queue
    ]
    backlog = int(value) * high  # exactly enough for the maximum
    with rabbit_management(stack) as rabbit:
        for trigger in spec["triggers"]:
            path = queue_path(vhost, trigger["metadata"]["queueName"])
            rabbit.put(path, json={"durable": True}).raise_for_status()
        kube_api.apply(objects, namespace=namespace)

        def replicas() -> int:
            deployment = kube_api.get("apps/v1", "Deployment", "cdds-exporter", namespace)
            return int(deployment.spec.replicas or 0)

        def hpa() -> dict[str, Any]:
            return _hpa_conditions(kube_api, "cdds-exporter", namespace)

        # Given KEDA's HPA reads the (empty) queues, the exporter at its minimum
        eventually_sync(
            hpa, lambda c: c.get("ScalingActive", "").startswith("True"), timeout=120,
            interval=1, what="the HPA's ScalingActive condition", ignoring=(NotFoundError,),
        )  # fmt: skip
        eventually_sync(replicas, lambda n: n == low, timeout=60, what="exporter at its minimum")
        try:
            # When partitions are queued, the maximum's worth
            _publish_to(rabbit, vhost, queue, backlog)
            # Then the exporter is scaled out to the maximum
            eventually_sync(
                replicas, lambda n: n == high, timeout=120, interval=1, what="scaled out"
            )
            # And back to its minimum once the queue drained
            rabbit.delete(f"{queue_path(vhost, queue)}/contents").raise_for_status()
            eventually_sync(replicas, lambda n: n == low, timeout=120, interval=1, what="back")
        except AssertionError as error:
            pytest.fail(f"{error}; HPA: {hpa()}", pytrace=False)


def _publish_to(rabbit: Any, vhost: str, queue: str, count: int) -> None:
    publish(rabbit, vhost, count, queue)
    eventually_sync(
        lambda: queue_depth(rabbit, vhost, queue), lambda n: n == count, timeout=30,
        what=f"{queue} depth",
    )  # fmt: skip


def test_a_scaled_object_on_a_queue_that_does_not_exist_is_not_ready_and_scales_nothing(
    kube_api: KubeApi, control_loops: None, stack: StackInfo, vhost: str, namespace: str
) -> None:
    """A broken manifest at level c: the exporter's ScaledObject with a misspelt queue. KEDA
    reports the trigger's error on the ScaledObject, and the Deployment stays at its minimum
    whatever is queued on the real queue."""
    queue = "cdds.exporter.export-partition"
    objects = exporter_scaling(management_host(stack, vhost), vhost)
    spec = objects[-1]["spec"]
    spec["triggers"] = [t for t in spec["triggers"] if t["metadata"]["queueName"] == queue]
    spec["triggers"][0]["metadata"]["queueName"] = f"{queue}s"  # the typo
    with rabbit_management(stack) as rabbit:
        rabbit.put(queue_path(vhost, queue), json={"durable": True}).raise_for_status()
        kube_api.apply(objects, namespace=namespace)
        _publish_to(rabbit, vhost, queue, 40)

        def state() -> tuple[int, str]:
            scaled = kube_api.get("keda.sh/v1alpha1", "ScaledObject", "cdds-exporter", namespace)
            found = (scaled.status or {}).get("conditions") or []
            ready = next((c for c in found if c["type"] == "Ready"), {})
            replicas = kube_api.get("apps/v1", "Deployment", "cdds-exporter", namespace)
            return int(replicas.spec.replicas or 0), f"{ready.get('status')}: {ready}"

        # KEDA says why (the management API answers 404 for the queue) and nothing scaled
        replicas, ready = eventually_sync(
            state,
            lambda seen: (
                seen[1].startswith("False")
                and f"{queue}s" in seen[1] + _events(kube_api, namespace)
            ),
            timeout=120,
            interval=1,
            what="the ScaledObject's Ready condition naming the missing queue",
        )
        assert replicas == spec["minReplicaCount"], ready


def _events(kube_api: KubeApi, namespace: str) -> str:
    """The namespace's events, as text: KEDA reports a trigger's errors there too."""
    events = kube_api.resource("v1", "Event").get(namespace=namespace)
    return " ".join(str(e.message) for e in events.items)
