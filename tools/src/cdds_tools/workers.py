"""A service as the real process it runs as (``python -m cdds_gateway.serve``, ``faststream run
--factory``), for tests, the benchmark and demos: started until ready, stopped gracefully, or
killed."""

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

    def stop(self) -> None:
        """SIGTERM: stop consuming, finish in-flight messages, exit (killed after 40 s)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(40)
            except subprocess.TimeoutExpired:
                self.kill()
