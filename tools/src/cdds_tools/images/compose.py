"""docker-compose.yml run by ``docker-compose`` against Podman's Docker API
(``podman system service`` on a socket of our own), with what Podman 4.3 lacks without systemd:
it runs no healthchecks by itself, so a loop here runs ``podman healthcheck run`` on each container
at its interval, as an engine would. ``down`` removes every container, network and volume of the
project and checks that none is left."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cdds_tools.images.engine import Engine, EngineError

__all__ = ["Compose", "PodmanService"]

# While a container is in its start period failures do not count, so it is probed this often
# (Docker's start_interval); afterwards at its own interval.
START_PROBE_SECONDS = 2.0


@dataclass
class PodmanService:
    """``podman system service`` serving the Docker API on ``socket_path`` until ``stop``."""

    engine: Engine
    socket_path: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> str:
        """Start it and wait until it answers ``/_ping``; returns the ``DOCKER_HOST`` value."""
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        self.socket_path.unlink(missing_ok=True)
        url = f"unix://{self.socket_path}"
        log = (self.socket_path.parent / "podman-service.log").open("wb")
        self.process = subprocess.Popen(
            [self.engine.binary, "system", "service", "--time=0", url],
            env=self.engine.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EngineError(f"podman system service exited: see {log.name}")
            if self._pings():
                return url
            time.sleep(0.2)
        raise EngineError(f"podman system service did not answer on {url} in {timeout:.0f}s")

    def _pings(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
                client.settimeout(2)
                client.connect(str(self.socket_path))
                client.sendall(b"GET /_ping HTTP/1.0\r\nHost: podman\r\n\r\n")
                return client.recv(64).startswith(b"HTTP/1.") and True
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.socket_path.unlink(missing_ok=True)


@dataclass
class Compose:
    """One compose project: its files, the variables they are read with, its containers."""

    engine: Engine
    project: str
    files: list[Path]
    variables: dict[str, str]
    _probed: dict[str, float] = field(default_factory=dict)

    def _command(self, *args: str) -> list[str]:
        binary = shutil.which("docker-compose")
        if binary is None:
            raise EngineError("docker-compose is missing: scripts/bootstrap.sh installs it")
        files = [arg for path in self.files for arg in ("--file", str(path))]
        return [binary, "--project-name", self.project, *files, *args]

    def _env(self) -> dict[str, str]:
        return {**os.environ, **self.variables}

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            self._command(*args), env=self._env(), capture_output=True, text=True, check=False
        )
        if check and done.returncode != 0:
            raise EngineError(f"docker-compose {args[0]} failed:\n{done.stderr[-3000:]}")
        return done

    def containers(self) -> list[dict[str, Any]]:
        """Every container of the project, as ``podman inspect`` shows it."""
        label = f"label=com.docker.compose.project={self.project}"
        ids = self.engine.run("ps", "--all", "--quiet", "--filter", label).stdout.split()
        if not ids:
            return []
        found = self.engine.run("inspect", *ids, check=False)
        inspected: list[dict[str, Any]] = json.loads(found.stdout or "[]")
        return inspected

    def up(self, timeout: float) -> None:
        """``up --detach --no-build`` while the healthcheck loop runs beside it."""
        stop = threading.Event()
        prober = threading.Thread(target=self._probe_loop, args=(stop,), daemon=True)
        prober.start()
        try:
            done = subprocess.run(
                self._command("up", "--detach", "--no-build"),
                env=self._env(),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
            if done.returncode != 0:
                raise EngineError(f"docker-compose up failed:\n{done.stderr[-3000:]}")
        except subprocess.TimeoutExpired as exc:
            raise EngineError(f"docker-compose up did not finish in {timeout:.0f}s") from exc
        finally:
            stop.set()
            prober.join()

    def wait_healthy(self, services: set[str], one_shots: set[str], timeout: float) -> None:
        """Until each of ``services`` is healthy and each of ``one_shots`` exited 0; else an
        error naming those that are not, with their last log lines."""
        deadline = time.monotonic() + timeout
        while True:
            pending = self._pending(services, one_shots)
            if not pending:
                return
            if time.monotonic() > deadline:
                raise EngineError(self._report(pending))
            self._probe_due()
            time.sleep(0.5)

    def _pending(self, services: set[str], one_shots: set[str]) -> dict[str, str]:
        states: dict[str, str] = {name: "no container" for name in services | one_shots}
        for container in self.containers():
            name = container["Config"]["Labels"].get("com.docker.compose.service", "?")
            state = container["State"]
            if name in one_shots:
                exited = state.get("Status") == "exited" and state.get("ExitCode") == 0
                states[name] = (
                    "done" if exited else f"{state.get('Status')} {state.get('ExitCode')}"
                )
            elif name in services:
                states[name] = _health(container)
        return {n: s for n, s in states.items() if s not in ("healthy", "done")}

    def _report(self, pending: dict[str, str]) -> str:
        lines = ["not healthy in time: " + ", ".join(f"{n} ({s})" for n, s in pending.items())]
        for name in pending:
            logs = self.run("logs", "--no-color", "--tail", "25", name, check=False)
            lines += [f"--- {name}: last log lines", (logs.stdout + logs.stderr).strip()]
        return "\n".join(lines)

    def _probe_loop(self, stop: threading.Event) -> None:
        while not stop.wait(0.5):
            try:
                self._probe_due()
            except (EngineError, json.JSONDecodeError, KeyError):
                continue  # a container that comes or goes mid-look; the next round sees it

    def _probe_due(self) -> None:
        """``podman healthcheck run`` on each running container whose check is due."""
        if not self.engine.is_podman:
            return  # Docker runs healthchecks itself
        now = time.monotonic()
        for container in self.containers():
            check = container["Config"].get("Healthcheck") or {}
            if not check.get("Test") or check["Test"][0] == "NONE":
                continue
            if container["State"].get("Status") != "running":
                continue
            interval = (check.get("Interval") or 30e9) / 1e9
            if _health(container) == "starting":
                interval = min(interval, START_PROBE_SECONDS)
            cid = container["Id"]
            if now - self._probed.get(cid, 0.0) >= interval:
                self._probed[cid] = now
                self.engine.run("healthcheck", "run", cid, check=False)

    def down(self) -> list[str]:
        """``down --volumes --remove-orphans``; returns what of the project is still there
        (then removed by force), so a caller fails on any leftover."""
        self.run("down", "--volumes", "--remove-orphans", "--timeout", "20", check=False)
        left: list[str] = []
        label = f"label=com.docker.compose.project={self.project}"
        containers = self.engine.run("ps", "-aq", "--filter", label, check=False).stdout.split()
        networks = [
            n
            for n in self.engine.run("network", "ls", "--format", "{{.Name}}").stdout.split()
            if n.startswith(f"{self.project}_")
        ]
        volumes = [
            v
            for v in self.engine.run("volume", "ls", "--format", "{{.Name}}").stdout.split()
            if v.startswith(f"{self.project}_")
        ]
        left += [f"container {c}" for c in containers]
        left += [f"network {n}" for n in networks]
        left += [f"volume {v}" for v in volumes]
        for kind, names in (("rm", containers), ("network", networks), ("volume", volumes)):
            if names:
                args = ["rm", "--force", *names] if kind == "rm" else [kind, "rm", "-f", *names]
                self.engine.run(*args, check=False)
        return left


def _health(container: dict[str, Any]) -> str:
    state = container["State"]
    if state.get("Status") != "running":
        return str(state.get("Status"))
    health = state.get("Health") or state.get("Healthcheck") or {}
    return str(health.get("Status") or "no healthcheck")
