"""The container engine ``make images`` and ``make compose-test`` drive: Podman (Docker where it
is the only one), with the settings of ``deploy/images/containers.conf`` given per invocation
(``CONTAINERS_CONF``), and each step timed."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CACHE_DIR", "Engine", "EngineError", "step"]

CACHE_DIR = Path(os.environ.get("CDDS_CACHE_DIR", Path.home() / ".cache" / "cdds")) / "images"


class EngineError(RuntimeError):
    """A container command failed; the message names it and ends with its output."""


@contextmanager
def step(title: str) -> Iterator[None]:
    """Print ``title``, then its elapsed time when the block ends (or fails)."""
    print(f"-- {title}", flush=True)
    began = time.monotonic()
    outcome = "failed"
    try:
        yield
        outcome = "done"
    finally:
        print(f"   {outcome} in {time.monotonic() - began:.1f}s", flush=True)


@dataclass(frozen=True)
class Engine:
    """``podman`` (or ``docker``) with the environment it runs in."""

    binary: str
    root: Path
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def find(cls, root: Path) -> Engine:
        """Podman first; Docker only where Podman is missing. Neither is an error, never a skip."""
        conf = root / "deploy" / "images" / "containers.conf"
        env = {**os.environ, "CONTAINERS_CONF": str(conf)}
        if podman := shutil.which("podman"):
            return cls(podman, root, env)
        if docker := shutil.which("docker"):
            return cls(docker, root, dict(os.environ))
        raise EngineError(
            "no container engine: install podman (scripts/bootstrap.sh does) or docker"
        )

    @property
    def is_podman(self) -> bool:
        return Path(self.binary).name == "podman"

    def run(
        self, *args: str, input_text: str | None = None, check: bool = True, quiet: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """``<engine> args…``; its output captured (``quiet``) or shown as it comes."""
        done = subprocess.run(
            [self.binary, *args],
            env=self.env,
            input=input_text,
            capture_output=quiet,
            text=True,
            check=False,
        )
        if check and done.returncode != 0:
            output = ((done.stdout or "") + (done.stderr or "")).strip()[-3000:]
            raise EngineError(f"{Path(self.binary).name} {' '.join(args[:3])}… failed: {output}")
        return done

    def image_exists(self, tag: str) -> bool:
        return self.run("image", "inspect", tag, check=False).returncode == 0

    def build(
        self,
        tag: str,
        containerfile: Path,
        context: Path,
        build_args: dict[str, str],
        *,
        extra: Sequence[str] = (),
    ) -> None:
        """Build ``containerfile`` in ``context`` as ``tag``; the log goes to the cache folder."""
        args = ["build", "--tag", tag, "--file", str(containerfile)]
        if self.is_podman:
            # HEALTHCHECK and STOPSIGNAL are kept only in the Docker image format.
            args += ["--format", "docker"]
        for name, value in build_args.items():
            args += ["--build-arg", f"{name}={value}"]
        log = CACHE_DIR / "log" / f"build-{tag.rsplit('/', 1)[-1].replace(':', '-')}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("w", encoding="utf-8") as out:
            done = subprocess.run(
                [self.binary, *args, *extra, str(context)],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if done.returncode != 0:
            tail = "\n".join(log.read_text(encoding="utf-8").splitlines()[-30:])
            raise EngineError(f"building {tag} failed (log: {log}):\n{tail}")

    def ca_mount(self) -> list[str]:
        """The host's CA bundle, mounted read-only into every build step (Podman only): builds
        reach the package index through whatever TLS proxy the host trusts."""
        bundle = Path("/etc/ssl/certs/ca-certificates.crt")
        if not self.is_podman or not bundle.is_file():
            return []
        return ["--volume", f"{bundle}:{bundle}:ro"]
