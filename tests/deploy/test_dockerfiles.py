"""The service Dockerfiles keep the rules ``make images`` relies on (docs/deploy.md § Images):
base images as build arguments, Python found on PATH, a final stage with only the venv (no
compiler, uv or pip), OCI labels. ``make compose-test`` checks the built images the same way
(``cdds_tools.images.build.check_image``)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from cdds_tools.images.bases import pinned_uv_version
from cdds_tools.images.compose_test import standin_override
from tests.deploy.conftest import REPO_ROOT
from tests.deploy.test_compose import _final_stage, _instructions

DOCKERFILES = sorted((REPO_ROOT / "services").glob("*/Dockerfile"))
BASES = {"PYTHON_IMAGE": "python:3.11-slim", "UV_IMAGE": r"ghcr\.io/astral-sh/uv:\d+\.\d+\.\d+"}
pytestmark = pytest.mark.unit


def _env(arguments: str) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in shlex.split(arguments))


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_base_images_are_build_arguments(dockerfile: Path) -> None:
    instructions = _instructions(dockerfile)
    first_from = next(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    before = instructions[:first_from]
    assert before and all(keyword == "ARG" for keyword, _ in before), before
    declared = dict(args.split("=", 1) for _, args in before)
    for name, default in BASES.items():
        assert re.fullmatch(default, declared.get(name, "")), f"{dockerfile}: ARG {name}"
    for keyword, args in instructions:
        if keyword == "FROM":
            image = args.split()[0]
            assert image in {"${PYTHON_IMAGE}", "${UV_IMAGE}"}, f"{dockerfile}: FROM {image}"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_python_is_found_on_path(dockerfile: Path) -> None:
    envs = [_env(args) for keyword, args in _instructions(dockerfile) if keyword == "ENV"]
    (python,) = [env["UV_PYTHON"] for env in envs if "UV_PYTHON" in env]
    assert "/" not in python, f"{dockerfile}: UV_PYTHON={python} assumes where Python lives"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_final_stage_holds_only_the_venv(dockerfile: Path) -> None:
    froms = [args for keyword, args in _instructions(dockerfile) if keyword == "FROM"]
    assert len(froms) >= 3, f"{dockerfile}: uv, build and runtime stages expected"
    final = _final_stage(dockerfile)
    assert final[0][1].split()[0] == "${PYTHON_IMAGE}"
    copies = [args for keyword, args in final if keyword == "COPY"]
    assert copies == ["--from=build /opt/venv /opt/venv"], f"{dockerfile}: {copies}"
    for keyword, args in final:
        if keyword == "RUN":
            for installer in ("apt-get install", "pip install", "uv ", "gcc"):
                assert installer not in args, f"{dockerfile}: final stage runs {installer}"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_final_stage_carries_oci_labels(dockerfile: Path) -> None:
    final = _final_stage(dockerfile)
    args = {a.split("=", 1)[0] for keyword, a in final if keyword == "ARG"}
    labels: dict[str, str] = {}
    for keyword, arguments in final:
        if keyword == "LABEL":
            labels |= _env(arguments)
    for name, arg in {"source": "SOURCE", "version": "VERSION", "revision": "REVISION"}.items():
        assert labels.get(f"org.opencontainers.image.{name}") == f"${{{arg}}}", (dockerfile, name)
        assert arg in args, f"{dockerfile}: the final stage does not declare ARG {arg}"


def test_every_dockerfile_pins_the_same_uv() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned_uv_version(REPO_ROOT))


def test_standin_override_only_adjusts_servers(services: dict[str, dict[str, Any]]) -> None:
    override = standin_override(postgres_port=25804)
    servers: dict[str, dict[str, Any]] = override["services"]  # type: ignore[assignment]
    assert set(servers) <= {"rabbitmq", "mongo", "minio", "postgres"}
    for name, service in servers.items():
        assert name in services
        if "healthcheck" in service:
            assert service["healthcheck"]["test"][0] == "CMD-SHELL"
    assert servers["postgres"]["ports"] == ["127.0.0.1:25804:5432"]
