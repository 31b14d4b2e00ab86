"""The control loops of level (c) against the test apiserver
(``tests/infra/kube.py``): kube-controller-manager, and the KEDA operator with its CRDs and the
cert dir it shares with KEDA's metrics apiserver (``tests/infra/kube_metrics_api.py``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from tests.infra.kube import KubeApi, load_objects
from tests.infra.kube_pki import write_tls_pair
from tests.infra.kube_process import ControlPlaneProcess
from tests.infra.kube_tools import keda_crds, tool
from tests.infra.provide import free_port
from tests.waiting import eventually_sync

__all__ = [
    "METRICS_SERVICE",
    "apply_keda_crds",
    "controller_manager",
    "keda_certs",
    "keda_operator",
]

# The Service KEDA's metrics apiserver is known by (its name in KEDA's own manifests).
METRICS_SERVICE = "keda-metrics-apiserver"


@contextlib.contextmanager
def controller_manager(api: KubeApi) -> Iterator[ControlPlaneProcess]:
    """kube-controller-manager against ``api`` (Deployments → ReplicaSets, the HPA controller),
    no leader election, no serving port of its own."""
    argv = [
        str(tool("kube-controller-manager")),
        f"--kubeconfig={api.kubeconfig}",
        "--leader-elect=false",
        "--secure-port=0",
        f"--service-account-private-key-file={api.pki.service_account_key}",
        f"--root-ca-file={api.pki.ca_cert}",
        "--use-service-account-credentials=false",
        # Short HPA sync so a scaling decision shows within seconds.
        "--horizontal-pod-autoscaler-sync-period=5s",
        "--v=1",
    ]
    process = ControlPlaneProcess.start("kube-controller-manager", argv, api.workdir)
    try:
        yield process
    finally:
        process.stop()


def apply_keda_crds(api: KubeApi) -> list[str]:
    """Apply KEDA's CRDs and wait until the server has them Established; their names."""
    objects = [
        obj for path in sorted(keda_crds().glob("*.yaml")) for obj in load_objects(path.read_text())
    ]
    api.apply(objects)
    names = [obj["metadata"]["name"] for obj in objects]

    def established() -> list[str]:
        pending = []
        for name in names:
            crd = api.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", name)
            conditions = {
                c["type"]: c["status"] for c in (crd.status or {}).get("conditions") or []
            }
            if conditions.get("Established") != "True":
                pending.append(name)
        return pending

    eventually_sync(
        established, lambda pending: not pending, timeout=60, what="KEDA CRDs Established"
    )
    api.dynamic.resources.invalidate_cache()
    return names


def keda_certs(api: KubeApi, namespace: str = "keda") -> Path:
    """KEDA's cert dir (``ca.crt``, ``tls.crt``, ``tls.key``), made once per apiserver and shared
    by the operator and the metrics apiserver, as in KEDA's own deployment: the operator's gRPC
    service serves this certificate on 127.0.0.1 and asks its client for one of the same CA; the
    metrics apiserver presents it to both the operator and the kube-apiserver, which checks it
    against the Service's DNS name and the APIService's ``caBundle`` (that ``ca.crt``)."""
    certs = api.workdir / "keda-certs"
    if not (certs / "tls.key").exists():
        write_tls_pair(
            certs, "keda", ips=["127.0.0.1"], dns_names=[f"{METRICS_SERVICE}.{namespace}.svc"]
        )
    return certs


@contextlib.contextmanager
def keda_operator(
    api: KubeApi, namespace: str = "keda", metrics_service_port: int | None = None
) -> Iterator[ControlPlaneProcess]:
    """The KEDA operator against ``api`` (its CRDs applied first), watching every namespace, its
    own objects in ``namespace``; its ports on free loopback ones (the defaults :8080/:8081 are
    the stack's services), its gRPC metrics service on ``metrics_service_port`` if given (where
    KEDA's metrics apiserver asks it for the triggers' values)."""
    api.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}])
    # Its gRPC metrics service (for KEDA's metrics apiserver) will not start without a CA and a
    # key pair in --cert-dir, and the operator exits with it.
    certs = keda_certs(api, namespace)
    argv = [
        str(tool("keda-operator")),
        f"--metrics-bind-address=127.0.0.1:{free_port()}",
        f"--health-probe-bind-address=127.0.0.1:{free_port()}",
        f"--metrics-service-bind-address=127.0.0.1:{metrics_service_port or free_port()}",
        f"--cert-dir={certs}",
        f"--ca-dir={certs}",
        "--leader-elect=false",
        "--zap-log-level=info",
    ]
    env = {
        "KUBECONFIG": str(api.kubeconfig),  # controller-runtime's lookup, after --kubeconfig
        "WATCH_NAMESPACE": "",  # every namespace
        "KEDA_CLUSTER_OBJECT_NAMESPACE": namespace,
        "POD_NAMESPACE": namespace,
    }
    process = ControlPlaneProcess.start("keda-operator", argv, api.workdir, env)
    try:
        yield process
    finally:
        process.stop()
