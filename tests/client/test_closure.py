"""The ``cdds`` client installs alone (README.md): its dependency closure in ``uv.lock`` holds no
server library, and the two wheels (cdds-client, cdds-cms) install into an empty virtual
environment where ``cdds --version`` runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVER_PACKAGES = {
    "faststream",
    "aio-pika",
    "aiormq",
    "pymongo",
    "motor",
    "psycopg",
    "psycopg-binary",
    "minio",
    "fastapi",
    "uvicorn",
    "pydantic-settings",
}


def closure(root: str) -> set[str]:
    """Every package ``root`` needs by ``uv.lock``, extras of its dependencies included."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text("utf-8"))
    packages = {p["name"]: p for p in lock["package"]}
    seen: set[str] = set()
    todo = [root]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        package = packages[name]
        needed = list(package.get("dependencies", []))
        for dependency in list(needed):
            for extra in dependency.get("extra", []):
                needed += packages[dependency["name"]].get("optional-dependencies", {})[extra]
        todo += [d["name"] for d in needed]
    return seen


@pytest.mark.unit
def test_no_server_library_in_the_clients_closure() -> None:
    needed = closure("cdds-client")
    assert {"cdds-client", "cdds-cms", "httpx", "rich", "cryptography", "asn1crypto"} <= needed
    assert needed & SERVER_PACKAGES == set()
    assert "cdds-shared" not in needed


@pytest.mark.unit
def test_the_check_sees_a_server_library() -> None:
    # The same walk from the services' package finds them: the test above can fail.
    assert {"faststream", "pymongo", "minio", "psycopg"} <= closure("cdds-shared")


@pytest.mark.slow
def test_the_client_installs_alone_and_runs(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    assert uv is not None, "uv is needed to build the wheels"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT")}
    wheels = tmp_path / "wheels"
    for member in ("cms", "client"):
        subprocess.run(
            [uv, "build", "--wheel", "--out-dir", str(wheels), str(ROOT / member)],
            check=True,
            capture_output=True,
            env=env,
        )
    venv = tmp_path / "venv"
    subprocess.run([uv, "venv", "--quiet", str(venv)], check=True, env=env)
    # The lock's versions of the closure, so the test installs what the workspace tests.
    exported = subprocess.run(
        [uv, "export", "--frozen", "--package", "cdds-client", "--no-emit-workspace",
         "--no-hashes", "--no-dev", "--no-header"],
        check=True, capture_output=True, text=True, cwd=ROOT, env=env,
    ).stdout  # fmt: skip
    pins = tmp_path / "pins.txt"
    pins.write_text(exported)
    python = venv / "bin" / "python"
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", str(python), "-r", str(pins),
         *map(str, sorted(wheels.glob("*.whl")))],
        check=True, env=env,
    )  # fmt: skip
    installed = subprocess.run(
        [uv, "pip", "list", "--python", str(python), "--format", "freeze"],
        check=True, capture_output=True, text=True, env=env,
    ).stdout  # fmt: skip
    names = {line.split("==")[0].lower() for line in installed.splitlines()}
    assert {"cdds-client", "cdds-cms"} <= names and not names & SERVER_PACKAGES, names
    version = subprocess.run(
        [venv / "bin" / "cdds", "--version"], check=True, capture_output=True, text=True
    )
    assert version.stdout.strip() == "cdds 0.1.0"
    helped = subprocess.run([venv / "bin" / "cdds", "download", "--help"], capture_output=True)
    assert helped.returncode == 0 and b"--decrypt" in helped.stdout
