"""A real Kubernetes control plane for the tests (levels b and c of docs/deploy.md § What is
validated): etcd and
kube-apiserver on loopback, built by ``scripts/k8s-tools.sh``; ``tests/infra/kube_controllers.py``
starts kube-controller-manager and the KEDA operator against it. No kubelet: the tests watch
the decisions (a Deployment's ``spec.replicas``), not pods.

The tests speak to it with the ``kubernetes`` Python client rather than ``kubectl``: its
``DynamicClient`` applies any rendered object (a kustomize build's output, CRDs, custom
resources) with server-side apply and ``dry_run="All"``, and answers with objects the test can
assert on, not text to parse. ``kubeconfig`` is there for ``kubectl`` and the controllers.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import ssl
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from kubernetes import config as kube_config
from kubernetes.client import ApiClient
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ResourceNotFoundError
from kubernetes.dynamic.resource import ResourceInstance

from tests.infra.kube_pki import FRONT_PROXY_CLIENT, Pki, write_pki
from tests.infra.kube_process import ControlPlaneProcess
from tests.infra.kube_tools import tool
from tests.infra.provide import free_port
from tests.waiting import eventually_sync

__all__ = [
    "FIELD_MANAGER",
    "KubeApi",
    "kube_api_server",
    "kustomize_build",
    "load_objects",
]

FIELD_MANAGER = "cdds-tests"
ADMIN = "cdds-admin"
# A loaded 2-core machine: the apiserver is ready in ~6 s when idle, much later under a build.
READY_TIMEOUT = 180


@dataclass
class KubeApi:
    """A running kube-apiserver: where it is, how to authenticate, a client."""

    url: str
    token: str
    kubeconfig: Path
    pki: Pki
    workdir: Path
    client: ApiClient
    _dynamic: DynamicClient | None = field(default=None, repr=False)

    @property
    def dynamic(self) -> DynamicClient:
        if self._dynamic is None:
            self._dynamic = DynamicClient(self.client)
        return self._dynamic

    def resource(self, api_version: str, kind: str) -> Any:
        """The API resource of ``kind``; discovery is refreshed once when a CRD is newer than it."""
        try:
            return self.dynamic.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            self.dynamic.resources.invalidate_cache()
            return self.dynamic.resources.get(api_version=api_version, kind=kind)

    def apply(
        self,
        objects: Iterable[Mapping[str, Any]],
        *,
        namespace: str | None = None,
        dry_run: bool = False,
    ) -> list[ResourceInstance]:
        """Server-side apply each object (any kind, e.g. a kustomize build's output) in order;
        namespaced objects without a namespace go to ``namespace``. With ``dry_run`` the server
        validates and admits them but stores nothing. Unknown fields are refused. An object the
        server refuses raises ``kubernetes.dynamic.exceptions.ApiException`` (422 Invalid…)."""
        applied = []
        for obj in objects:
            resource = self.resource(obj["apiVersion"], obj["kind"])
            meta = obj.get("metadata", {})
            target = (meta.get("namespace") or namespace) if resource.namespaced else None
            extra = {"dry_run": "All"} if dry_run else {}
            applied.append(
                self.dynamic.server_side_apply(
                    resource,
                    body=dict(obj),
                    name=meta.get("name"),
                    namespace=target,
                    field_manager=FIELD_MANAGER,
                    force_conflicts=True,
                    # An unknown or duplicate field is an error, not a warning (a typo in a
                    # manifest must fail the apply); a fresh list: the client appends to it.
                    query_params=[("fieldValidation", "Strict")],
                    **extra,
                )
            )
        return applied

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> ResourceInstance:
        return self.resource(api_version, kind).get(name=name, namespace=namespace)


def load_objects(text: str) -> list[dict[str, Any]]:
    """The objects of a multi-document YAML stream (``kustomize build``'s output), no empties."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def kustomize_build(directory: Path) -> list[dict[str, Any]]:
    """The objects ``kustomize build directory`` renders (the cached kustomize), for ``apply``."""
    rendered = subprocess.run(
        [str(tool("kustomize")), "build", str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if rendered.returncode != 0:
        pytest.fail(f"kustomize build {directory} failed:\n{rendered.stderr}", pytrace=False)
    return load_objects(rendered.stdout)


def _kubeconfig(path: Path, url: str, ca: Path, token: str) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "cdds-test", "cluster": {"server": url, "certificate-authority": str(ca)}}
        ],
        "users": [{"name": ADMIN, "user": {"token": token}}],
        "contexts": [{"name": "cdds-test", "context": {"cluster": "cdds-test", "user": ADMIN}}],
        "current-context": "cdds-test",
    }
    path.write_text(yaml.safe_dump(config))


def _start_etcd(workdir: Path) -> tuple[ControlPlaneProcess, str]:
    client, peer = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
    argv = [
        str(tool("etcd")),
        "--name=cdds-test",
        f"--data-dir={workdir / 'etcd'}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=cdds-test={peer}",
        # Throwaway data: no fsync, so a busy disk does not slow every write of the tests.
        "--unsafe-no-fsync",
        "--log-level=warn",
    ]
    return ControlPlaneProcess.start("etcd", argv, workdir), client


def _start_apiserver(
    workdir: Path, etcd_url: str, pki: Pki, token: str, port: int
) -> ControlPlaneProcess:
    tokens = workdir / "tokens.csv"
    # token,user,uid,"groups": system:masters passes every RBAC check.
    tokens.write_text(f'{token},{ADMIN},{ADMIN},"system:masters"\n')
    argv = [
        str(tool("kube-apiserver")),
        f"--etcd-servers={etcd_url}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={port}",
        f"--tls-cert-file={pki.serving_cert}",
        f"--tls-private-key-file={pki.serving_key}",
        f"--token-auth-file={tokens}",
        "--authorization-mode=RBAC",
        f"--service-account-key-file={pki.service_account_key}",
        f"--service-account-signing-key-file={pki.service_account_key}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        "--service-cluster-ip-range=10.96.0.0/24",
        # The kubernetes Service's endpoints would name a loopback address, which the apiserver
        # refuses to publish; nothing here needs them.
        "--endpoint-reconciler-type=none",
        f"--cert-dir={workdir / 'apiserver-certs'}",
        # The aggregation layer (KEDA's metrics apiserver behind external.metrics.k8s.io): the
        # apiserver proxies as the front proxy, naming the user in headers the aggregated server
        # trusts from this client certificate only; it dials the Service's endpoint itself,
        # there being no kube-proxy for its ClusterIP.
        f"--requestheader-client-ca-file={pki.front_proxy_ca_cert}",
        f"--requestheader-allowed-names={FRONT_PROXY_CLIENT}",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-username-headers=X-Remote-User",
        f"--proxy-client-cert-file={pki.front_proxy_client_cert}",
        f"--proxy-client-key-file={pki.front_proxy_client_key}",
        "--enable-aggregator-routing=true",
        "--v=1",
    ]
    return ControlPlaneProcess.start("kube-apiserver", argv, workdir)


@contextlib.contextmanager
def kube_api_server() -> Iterator[KubeApi]:
    """etcd + kube-apiserver in a temporary directory, ready (``/readyz``); stopped and removed
    afterwards. Fails (never skips) when the binaries are missing or the server is not ready."""
    workdir = Path(tempfile.mkdtemp(prefix="cdds-kube-"))
    processes: list[ControlPlaneProcess] = []
    try:
        pki = write_pki(workdir)
        etcd, etcd_url = _start_etcd(workdir)
        processes.append(etcd)
        token = os.urandom(16).hex()
        port = free_port()
        apiserver = _start_apiserver(workdir, etcd_url, pki, token, port)
        processes.append(apiserver)
        url = f"https://127.0.0.1:{port}"

        def ready() -> int:
            for process in processes:
                process.check_alive()
            with httpx.Client(
                verify=ssl.create_default_context(cafile=pki.ca_cert), timeout=5
            ) as http:
                response = http.get(f"{url}/readyz", headers={"Authorization": f"Bearer {token}"})
            return response.status_code

        eventually_sync(
            ready,
            lambda status: status == 200,
            timeout=READY_TIMEOUT,
            interval=0.5,
            what="kube-apiserver /readyz",
            ignoring=(httpx.TransportError,),
        )
        kubeconfig = workdir / "kubeconfig"
        _kubeconfig(kubeconfig, url, pki.ca_cert, token)
        client = kube_config.new_client_from_config(config_file=str(kubeconfig))
        try:
            yield KubeApi(url, token, kubeconfig, pki, workdir, client)
        finally:
            client.close()
    finally:
        for process in reversed(processes):
            process.stop()
        shutil.rmtree(workdir, ignore_errors=True)
