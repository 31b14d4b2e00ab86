"""``make images``: the four service images built from their own Dockerfiles on every run (the
engine's layer cache makes a warm run quick), each then checked as built: a non-root user, a
healthcheck, the OCI labels, and no compiler, uv or pip in it.

    python -m cdds_tools.images.build
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from cdds_tools.devstack.config import find_root
from cdds_tools.images.bases import Bases, make_bases
from cdds_tools.images.engine import Engine, EngineError, step

__all__ = ["SERVICES", "ServiceImages", "build_services", "check_image", "main"]

SERVICES = ("gateway", "exporter", "encryptor", "janitor")
# Found in the final stage of an image, any of these is a build tool left behind.
BUILD_TOOLS = ("gcc", "cc", "make", "uv", "uvx", "pip", "pip3", "pip3.11")
LABELS = ("source", "version", "revision")


@dataclass(frozen=True)
class ServiceImages:
    """The tags compose uses for our services (``cdds/<service>:dev``)."""

    tags: dict[str, str]


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() if done.returncode == 0 else ""


def _version(root: Path, service: str) -> str:
    project = tomllib.loads((root / "services" / service / "pyproject.toml").read_text("utf-8"))
    return str(project["project"]["version"])


def build_services(engine: Engine, bases: Bases) -> ServiceImages:
    """Each service from ``services/<service>/Dockerfile``, the repository root as context."""
    root = engine.root
    revision = _git(root, "rev-parse", "HEAD") or "unknown"
    source = _git(root, "config", "--get", "remote.origin.url") or "unknown"
    tags: dict[str, str] = {}
    for service in SERVICES:
        tag = tags[service] = f"localhost/cdds/{service}:dev"
        with step(f"image {tag} from services/{service}/Dockerfile"):
            engine.build(
                tag,
                root / "services" / service / "Dockerfile",
                root,
                {
                    "PYTHON_IMAGE": bases.python,
                    "UV_IMAGE": bases.uv,
                    "VERSION": _version(root, service),
                    "REVISION": revision,
                    "SOURCE": source,
                },
                extra=engine.ca_mount(),
            )
            check_image(engine, tag, revision)
    return ServiceImages(tags)


def check_image(engine: Engine, tag: str, revision: str) -> None:
    """The built image runs as a numeric non-root uid, has a healthcheck and the OCI labels,
    and holds no build tool."""
    (inspected,) = json.loads(engine.run("image", "inspect", tag).stdout)
    config = inspected.get("Config") or {}
    user = str(config.get("User", "")).split(":", 1)[0]
    problems = []
    if not user.isdigit() or int(user) == 0:
        problems.append(f"runs as {user or 'root'}, not a numeric non-root uid")
    # Podman reports the healthcheck beside the config, Docker inside it.
    healthcheck = inspected.get("Healthcheck") or config.get("Healthcheck") or {}
    if not healthcheck.get("Test"):
        problems.append("has no HEALTHCHECK")
    labels = config.get("Labels") or {}
    for label in LABELS:
        if not labels.get(f"org.opencontainers.image.{label}"):
            problems.append(f"lacks the label org.opencontainers.image.{label}")
    if labels.get("org.opencontainers.image.revision") != revision:
        problems.append(
            f"is labelled with revision {labels.get('org.opencontainers.image.revision')}"
        )
    probe = " ".join(f"command -v {tool} && exit 1;" for tool in BUILD_TOOLS)
    found = engine.run(
        "run", "--rm", "--network", "none", "--entrypoint", "sh", tag, "-c",
        f"{probe} python -m pip --version >/dev/null 2>&1 && echo pip && exit 1; exit 0",
        check=False,
    )  # fmt: skip
    if found.returncode != 0:
        problems.append(f"carries build tools: {found.stdout.split() or found.stderr[-300:]}")
    if problems:
        raise EngineError(f"{tag} " + "; ".join(problems))


def build_all(engine: Engine) -> tuple[Bases, ServiceImages]:
    """The bases (cached), then the four service images (always built)."""
    with step("base images (built once, then cached)"):
        bases = make_bases(engine)
    return bases, build_services(engine, bases)


def main() -> int:
    began = time.monotonic()
    try:
        engine = Engine.find(find_root())
        bases, images = build_all(engine)
    except EngineError as exc:
        print(f"make images: FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"bases: {bases.python}, {bases.uv}")
    for service, tag in images.tags.items():
        size = engine.run("image", "inspect", "--format", "{{.Size}}", tag).stdout.strip()
        print(f"   {service:10} {tag}  {int(size) / 1e6:.0f} MB")
    print(f"make images: OK in {time.monotonic() - began:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
