"""A service as the real process it runs as (``python -m cdds_gateway.serve``, ``faststream run
--factory``), for tests, the benchmark and demos: started until ready, terminated (SIGTERM) and
awaited, stopped gracefully, or killed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = ["WorkerProcess"]

BIN = Path(sys.executable).parent
# terminationGracePeriodSeconds of the deployment (docs/operations.md, "Shutdown").
GRACE_SECONDS = 45


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class WorkerProcess:
    """``service`` is ``gateway`` (its launcher, ``cdds_gateway.serve``), ``exporter``,
    ``encryptor`` or ``janitor`` (faststream); ``port`` 0 picks a free one at each start
    (``bound_port``); output goes to ``log``."""

    service: str
    env: dict[str, str]
    log: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    bound_port: int = 0

    def start(self, timeout: float = 60) -> None:
        port = self.port or _free_port()
        if self.service == "gateway":  # its launcher: uvicorn with the edge's limits
            runner = [sys.executable, "-m", "cdds_gateway.serve"]
        else:
            runner = [
                str(BIN / "faststream"),
                "run",
                "--factory",
                f"cdds_{self.service}.app:create_app",
            ]
        command = [*runner, "--host", "127.0.0.1", "--port", str(port)]
        self.bound_port = port
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                command,
                env={**self.env, "CDDS_WORKER__PORT": str(port), "CDDS_GATEWAY__PORT": str(port)},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.service} exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.service} not ready after {timeout}s; see {self.log}")

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, in-flight messages are left unacked."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self) -> None:
        """SIGTERM, as Kubernetes sends it, without waiting: the service stops taking work,
        finishes or returns what is in flight and exits (``wait`` for it)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()

    def wait(self, timeout: float = GRACE_SECONDS) -> int:
        """The exit status, once the process ended (``subprocess.TimeoutExpired`` after
        ``timeout`` s, the grace period Kubernetes gives before SIGKILL)."""
        assert self.proc is not None, "not started"
        return self.proc.wait(timeout)

    def stop(self) -> None:
        """SIGTERM: stop taking work, finish in-flight work, exit (killed after the grace)."""
        self.terminate()
        if self.proc is not None:
            try:
                self.proc.wait(GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                self.kill()
