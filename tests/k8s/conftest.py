"""The session's Kubernetes control plane (``tests/infra/kube.py``): one etcd + kube-apiserver
for every test of ``tests/k8s/``, each test in a namespace of its own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import unquote, urlsplit

import pytest

from tests.infra import StackInfo
from tests.infra.isolation import temporary_vhost
from tests.infra.kube import KubeApi, kube_api_server
from tests.infra.kube_controllers import apply_keda_crds, controller_manager


@pytest.fixture(scope="session")
def kube_api() -> Iterator[KubeApi]:
    """A real kube-apiserver (with its etcd), ready; stopped at the end of the session."""
    with kube_api_server() as api:
        yield api


@pytest.fixture(scope="session")
def keda_crds_applied(kube_api: KubeApi) -> list[str]:
    """KEDA's CRDs applied to the session's apiserver and Established; their names."""
    return apply_keda_crds(kube_api)


@pytest.fixture(scope="session")
def kube_controllers(kube_api: KubeApi) -> Iterator[None]:
    """kube-controller-manager running against the session's apiserver (level c)."""
    with controller_manager(kube_api):
        yield


@pytest.fixture
def namespace(kube_api: KubeApi) -> Iterator[str]:
    """A fresh namespace for one test, deleted afterwards (no kubelet: deletion is immediate
    for objects without finalizers; the namespace itself may linger, harmlessly)."""
    name = f"cdds-test-{uuid.uuid4().hex[:8]}"
    kube_api.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}])
    yield name
    kube_api.resource("v1", "Namespace").delete(name=name)


@pytest.fixture
def vhost(stack: StackInfo) -> Iterator[str]:
    """A RabbitMQ vhost of one test's own (the KEDA tests' queues), deleted afterwards; its name."""
    with temporary_vhost(stack) as amqp_url:
        yield unquote(urlsplit(amqp_url).path.removeprefix("/"))
