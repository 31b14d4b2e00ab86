"""KEDA's metrics apiserver (``keda-adapter``) against the test apiserver, registered as the
aggregated API ``v1beta1.external.metrics.k8s.io``: what the HPA behind a ScaledObject reads to
scale a Deployment from its minimum to N (docs/deploy.md § What is validated, level c).

The kube-apiserver reaches it as a Service without a selector whose Endpoints and EndpointSlice
name the adapter's address; it dials that endpoint itself (``--enable-aggregator-routing``,
``tests/infra/kube.py``: there is no kube-proxy). The apiserver refuses loopback endpoint
addresses, so the adapter listens on this machine's first non-loopback IPv4 address.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import ipaddress
import socket
import struct
from collections.abc import Iterator
from typing import Any

import pytest

from tests.infra.kube import KubeApi
from tests.infra.kube_controllers import METRICS_SERVICE, keda_certs
from tests.infra.kube_process import ControlPlaneProcess
from tests.infra.kube_tools import tool
from tests.infra.provide import free_port
from tests.waiting import eventually_sync

__all__ = ["EXTERNAL_METRICS_API", "host_address", "keda_metrics_apiserver"]

EXTERNAL_METRICS_API = "v1beta1.external.metrics.k8s.io"
_SIOCGIFADDR = 0x8915  # <linux/sockios.h>: an interface's IPv4 address
# The aggregator checks a new APIService within seconds; the adapter's start on a loaded
# 2-core machine takes longer.
AVAILABLE_TIMEOUT = 120


def host_address() -> str:
    """This machine's first non-loopback IPv4 address (Linux); fails when it has none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _, name in socket.if_nameindex():
            try:
                answer = fcntl.ioctl(
                    probe.fileno(), _SIOCGIFADDR, struct.pack("256s", name.encode()[:15])
                )
            except OSError:  # an interface without an IPv4 address
                continue
            address = ipaddress.IPv4Address(answer[20:24])
            if not address.is_loopback:
                return str(address)
    pytest.fail(
        "no non-loopback IPv4 address on this machine: the kube-apiserver refuses loopback "
        "endpoints, so KEDA's metrics apiserver has nowhere it can be reached",
        pytrace=False,
    )


def _registration(
    namespace: str, address: str, port: int, ca_bundle: bytes
) -> list[dict[str, Any]]:
    meta = {"name": METRICS_SERVICE, "namespace": namespace}
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {"ports": [{"name": "https", "port": 443, "targetPort": port}]},
        },
        # Both: the aggregator's resolver and the endpoint-slice mirroring read one or the other.
        {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": meta,
            "subsets": [
                {"addresses": [{"ip": address}], "ports": [{"name": "https", "port": port}]}
            ],
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": f"{METRICS_SERVICE}-harness",
                "namespace": namespace,
                "labels": {
                    "kubernetes.io/service-name": METRICS_SERVICE,
                    "endpointslice.kubernetes.io/managed-by": "cdds-tests",
                },
            },
            "addressType": "IPv4",
            "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
        },
        {
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": {"name": EXTERNAL_METRICS_API},
            "spec": {
                "service": {"name": METRICS_SERVICE, "namespace": namespace, "port": 443},
                "group": "external.metrics.k8s.io",
                "version": "v1beta1",
                "caBundle": base64.b64encode(ca_bundle).decode(),
                "groupPriorityMinimum": 100,
                "versionPriority": 100,
            },
        },
    ]


@contextlib.contextmanager
def keda_metrics_apiserver(
    api: KubeApi, metrics_service_port: int, namespace: str = "keda"
) -> Iterator[ControlPlaneProcess]:
    """KEDA's metrics apiserver against ``api``, asking the operator's gRPC metrics service on
    ``127.0.0.1:metrics_service_port`` (``keda_operator(..., metrics_service_port=...)``),
    registered and ``Available``; the APIService is removed afterwards."""
    certs = keda_certs(api, namespace)
    address, port = host_address(), free_port()
    argv = [
        str(tool("keda-adapter")),
        f"--bind-address={address}",
        f"--secure-port={port}",
        f"--cert-dir={certs}",
        f"--tls-cert-file={certs / 'tls.crt'}",
        f"--tls-private-key-file={certs / 'tls.key'}",
        # Its own client, and the delegated authentication (the front proxy's CA, read from the
        # extension-apiserver-authentication ConfigMap) and authorization (SubjectAccessReview).
        f"--lister-kubeconfig={api.kubeconfig}",
        f"--authentication-kubeconfig={api.kubeconfig}",
        f"--authorization-kubeconfig={api.kubeconfig}",
        f"--metrics-service-address=127.0.0.1:{metrics_service_port}",
        # Its Prometheus endpoint listens on every interface; off the default :8080 (the stack's
        # gateway).
        f"--port={free_port()}",
        "--zap-log-level=info",
    ]
    env = {
        "KUBECONFIG": str(api.kubeconfig),  # controller-runtime's client for ScaledObjects
        "WATCH_NAMESPACE": "",
        "KEDA_CLUSTER_OBJECT_NAMESPACE": namespace,
        "POD_NAMESPACE": namespace,
    }
    process = ControlPlaneProcess.start("keda-adapter", argv, api.workdir, env)
    try:
        api.apply(
            _registration(namespace, address, port, (certs / "ca.crt").read_bytes()),
            namespace=namespace,
        )

        def available() -> dict[str, str]:
            process.check_alive()
            status = api.get("apiregistration.k8s.io/v1", "APIService", EXTERNAL_METRICS_API)
            for condition in (status.status or {}).get("conditions") or []:
                if condition["type"] == "Available":
                    return {"status": condition["status"], "message": condition.get("message", "")}
            return {}

        try:
            eventually_sync(
                available,
                lambda condition: condition.get("status") == "True",
                timeout=AVAILABLE_TIMEOUT,
                what=f"APIService {EXTERNAL_METRICS_API} Available",
            )
        except AssertionError as error:
            pytest.fail(f"{error}\nkeda-adapter's log:\n{process.tail()}", pytrace=False)
        yield process
    finally:
        with contextlib.suppress(Exception):
            api.resource("apiregistration.k8s.io/v1", "APIService").delete(
                name=EXTERNAL_METRICS_API
            )
        process.stop()
