"""One managed background process: pid file, log file, start in its own session, stop the group."""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Managed", "port_open"]

HealthCheck = Callable[[], str | None]  # None when healthy, else the reason


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@dataclass
class Managed:
    """A process of the stack. ``user``: the account it runs as when we are root (unprivileged)."""

    name: str
    command: list[str]
    ports: list[int]
    health: HealthCheck
    run_dir: Path
    log_file: Path
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    cwd: Path | None = None
    stop_signal: int = signal.SIGTERM
    start_timeout: float = 60.0
    prepare: Callable[[], None] | None = None
    after_start: Callable[[], None] | None = None  # idempotent: runs on every `up`

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def taken_ports(self, host: str) -> list[int]:
        return [p for p in self.ports if port_open(host, p)]

    def start(self) -> int:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        command = list(self.command)
        if self.user and os.geteuid() == 0:
            pwd.getpwnam(self.user)  # fail clearly if the account is missing
            command = ["runuser", "-u", self.user, "--", *command]
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
                cwd=self.cwd,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{proc.pid}\n")
        return proc.pid

    def wait_healthy(self, timeout: float) -> str | None:
        """Poll the health check; ``None`` once healthy, else the last reason (or death)."""
        deadline = time.monotonic() + timeout
        reason: str | None = "not checked"
        while time.monotonic() < deadline:
            if self.pid() is None:
                return "the process exited"
            reason = self.health()
            if reason is None:
                return None
            time.sleep(0.3)
        return f"not healthy after {timeout:.0f}s: {reason}"

    def stop(self, timeout: float = 30.0) -> bool:
        """Signal the process group, wait, then SIGKILL what is left. True if it was running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, self.stop_signal)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _group_alive(pid):
            time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log yet)"


def _group_alive(pgid: int) -> bool:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
            return True
    return False
