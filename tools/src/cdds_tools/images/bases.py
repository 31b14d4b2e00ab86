"""Local stand-ins for the images our machines cannot pull (no registry): a Debian bookworm base
from ``debootstrap``, a Python 3.11 base on it, uv's image (its static binary at ``/uv``, from the
PyPI wheel), and the four servers of docker-compose.yml (``deploy/images/standins/``).

Each is tagged with a digest of its inputs and built only when that tag is missing; the
debootstrap root file system, the slow part, is kept as a tarball in ``~/.cache/cdds/images``.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from cdds_tools.images.engine import CACHE_DIR, Engine, EngineError, step

__all__ = ["Bases", "ServerImages", "make_bases", "make_server_images", "pinned_uv_version"]

SUITE, VARIANT = "bookworm", "minbase"
STANDINS = Path("deploy") / "images" / "standins"
UV_ARG = re.compile(r"^ARG UV_IMAGE=\S+:(?P<version>[0-9][0-9.]*)$", re.MULTILINE)


@dataclass(frozen=True)
class Bases:
    """The base images the service Dockerfiles take as build arguments, and the Debian base."""

    debian: str
    python: str
    uv: str


@dataclass(frozen=True)
class ServerImages:
    """The stand-in server images, by the compose variable that selects each."""

    images: dict[str, str]


def _digest(*parts: str | bytes) -> str:
    sha = hashlib.sha256()
    for part in parts:
        sha.update(part.encode() if isinstance(part, str) else part)
        sha.update(b"\0")
    return sha.hexdigest()[:12]


def _debootstrap_version() -> str:
    done = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "debootstrap"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or shutil.which("debootstrap") is None:
        raise EngineError("debootstrap is missing: scripts/bootstrap.sh installs it")
    return done.stdout.strip()


def _rootfs_tarball() -> Path:
    """``debootstrap --variant=minbase bookworm`` as a tarball, keyed by its inputs."""
    key = _digest(SUITE, VARIANT, _debootstrap_version(), "amd64")
    tarball = CACHE_DIR / f"rootfs-{SUITE}-{VARIANT}-{key}.tar"
    if tarball.is_file():
        return tarball
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    title = f"debootstrap {VARIANT} {SUITE} into {tarball.name} (first time: about a minute)"
    with step(title), tempfile.TemporaryDirectory(dir=CACHE_DIR) as work:
        rootfs = Path(work) / "rootfs"
        log = CACHE_DIR / "log" / "debootstrap.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("w", encoding="utf-8") as out:
            done = subprocess.run(
                ["debootstrap", f"--variant={VARIANT}", SUITE, str(rootfs)],
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if done.returncode != 0:
            raise EngineError(f"debootstrap failed (log: {log})")
        partial = tarball.with_suffix(".partial")
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(partial), "."], check=True)
        partial.rename(tarball)
    return tarball


def pinned_uv_version(root: Path) -> str:
    """The uv version every service Dockerfile pins (``ARG UV_IMAGE=…:<version>``), one for all."""
    versions = {
        match["version"]
        for dockerfile in sorted((root / "services").glob("*/Dockerfile"))
        for match in UV_ARG.finditer(dockerfile.read_text(encoding="utf-8"))
    }
    if len(versions) != 1:
        raise EngineError(f"the Dockerfiles pin uv differently (or not at all): {versions}")
    return versions.pop()


def _uv_image(engine: Engine, version: str) -> str:
    """uv's image stand-in: ``FROM scratch`` with the static ``uv`` of the PyPI wheel at /uv."""
    tag = f"localhost/cdds-standin-uv:{version}"
    if engine.image_exists(tag):
        return tag
    with step(f"uv {version} image stand-in (the PyPI wheel's binary)"):
        wheels = CACHE_DIR / f"uv-{version}"
        if not any(wheels.glob("uv-*.whl")):
            # pip run as a uv tool: the workspace's venv has no pip of its own.
            pip = [
                "uvx",
                "--quiet",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
            ]
            subprocess.run([*pip, "--dest", str(wheels), f"uv=={version}"], check=True)
        (wheel,) = wheels.glob("uv-*.whl")
        with tempfile.TemporaryDirectory() as context:
            binary = Path(context) / "uv"
            with zipfile.ZipFile(wheel) as archive:
                binary.write_bytes(archive.read(f"uv-{version}.data/scripts/uv"))
            binary.chmod(0o755)
            containerfile = Path(context) / "Containerfile"
            containerfile.write_text("FROM scratch\nCOPY uv /uv\n", encoding="utf-8")
            engine.build(tag, containerfile, Path(context), {})
    return tag


def make_bases(engine: Engine) -> Bases:
    """The Debian base, the Python base on it and the uv stand-in: built when missing."""
    tarball = _rootfs_tarball()
    debian = f"localhost/cdds-base-debian:{SUITE}-{tarball.stem.rsplit('-', 1)[-1]}"
    if not engine.image_exists(debian):
        with step(f"import {tarball.name} as {debian}"):
            with tarball.open("rb") as stream:
                done = subprocess.run(
                    [engine.binary, "import", "-", debian],
                    stdin=stream,
                    env=engine.env,
                    capture_output=True,
                    check=False,
                )
            if done.returncode != 0:
                raise EngineError(f"podman import failed: {done.stderr.decode()[-2000:]}")
    containerfile = engine.root / "deploy" / "images" / "python.Containerfile"
    python = f"localhost/cdds-python:3.11-{_digest(debian, containerfile.read_bytes())}"
    if not engine.image_exists(python):
        with step(f"Python base {python} (Debian's python3.11)"):
            engine.build(python, containerfile, containerfile.parent, {"BASE_IMAGE": debian})
    return Bases(debian, python, _uv_image(engine, pinned_uv_version(engine.root)))


def _binary(name: str) -> Path:
    """``~/.cache/cdds/bin/<name>``, the build of scripts/bootstrap.sh, resolved to its version."""
    link = CACHE_DIR.parent / "bin" / name
    if not link.exists():
        raise EngineError(f"{link} is missing: run `make bootstrap` (it builds {name})")
    return link.resolve()


def make_server_images(engine: Engine, bases: Bases) -> ServerImages:
    """RabbitMQ and PostgreSQL from Debian's packages, FerretDB and MinIO from bootstrap's
    binaries; each tagged with a digest of its Containerfile, files and base."""
    folder = engine.root / STANDINS
    plan = {
        # compose variable: (stand-in name, base argument, binary copied into the context)
        "RABBITMQ_IMAGE": ("rabbitmq", {"BASE_IMAGE": bases.debian}, None),
        "POSTGRES_IMAGE": ("postgres", {"BASE_IMAGE": bases.debian}, None),
        "MONGO_IMAGE": ("ferretdb", {"PYTHON_IMAGE": bases.python}, _binary("ferretdb")),
        "MINIO_IMAGE": ("minio", {"PYTHON_IMAGE": bases.python}, _binary("minio")),
    }
    images: dict[str, str] = {}
    for variable, (name, build_args, binary) in plan.items():
        containerfile = folder / f"{name}.Containerfile"
        inputs = [p.read_bytes() for p in sorted(folder.glob(f"{name}*"))]
        key = _digest(*inputs, *build_args.values(), binary.name if binary else "")
        tag = images[variable] = f"localhost/cdds-standin-{name}:{key}"
        if engine.image_exists(tag):
            continue
        with step(f"server stand-in {tag}"), tempfile.TemporaryDirectory() as context:
            for source in folder.glob(f"{name}*"):
                shutil.copy2(source, context)
            if binary is not None:
                shutil.copy2(binary, Path(context) / name)
            engine.build(tag, containerfile, Path(context), build_args)
    return ServerImages(images)
