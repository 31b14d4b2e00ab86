"""Where the Kubernetes tools are: ``$CDDS_CACHE_DIR/bin/<tool>-<version>`` (default
``~/.cache/cdds``), built by ``scripts/k8s-tools.sh`` (run by ``make bootstrap``) at the versions
of ``deploy/k8s/versions.env``. A missing tool fails the test that needs it, saying how to get
it: never a skip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

__all__ = ["CACHE_DIR", "VERSIONS", "keda_crds", "tool"]

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = Path(os.environ.get("CDDS_CACHE_DIR") or Path.home() / ".cache" / "cdds")


def _versions() -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in (REPO_ROOT / "deploy/k8s/versions.env").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    return {key.strip(): value.strip() for key, value in pairs}


VERSIONS = _versions()
HOW = "run `make bootstrap` (scripts/k8s-tools.sh builds it)"
_VERSION_OF = {
    "kustomize": "KUSTOMIZE_VERSION",
    "kube-apiserver": "KUBERNETES_VERSION",
    "kube-controller-manager": "KUBERNETES_VERSION",
    "etcd": "ETCD_VERSION",
    "keda-operator": "KEDA_VERSION",
    "keda-adapter": "KEDA_VERSION",
    "promtool": "PROMTOOL_VERSION",
}


def tool(name: str) -> Path:
    """The cached binary ``name`` (``kustomize``, ``kube-apiserver``, ``etcd``, ``promtool`` …)."""
    path = CACHE_DIR / "bin" / f"{name}-{VERSIONS[_VERSION_OF[name]]}"
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is missing: {HOW}", pytrace=False)
    return path


def keda_crds() -> Path:
    """The directory of KEDA's CRDs (``config/crd/bases`` of its Go module), copied by
    ``scripts/k8s-tools.sh``."""
    path = CACHE_DIR / f"keda-{VERSIONS['KEDA_VERSION']}" / "crds"
    if not path.is_dir() or not any(path.glob("*.yaml")):
        pytest.fail(f"{path} is missing: {HOW}", pytrace=False)
    return path
