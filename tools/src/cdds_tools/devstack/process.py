"""One managed background process: pid file, log file, start in its own session, stop the group.

The pid file names the server itself, never a wrapper: when we are root, privileges are dropped
in the child before ``exec`` (``subprocess.Popen(user=, group=, extra_groups=)``), so killing the
pid ``cdds-stack status`` shows stops the server. Pid files of older stacks name a ``runuser``
wrapper; they are still read (its child is reported) and stopped (the wrapper's process group).
Every process we start carries ``CDDS_STACK_PROCESS=<name>@<run dir>`` in its environment (its
children inherit it), so a server of ours left running without a pid file — its wrapper was
killed — is recognised when it holds our port, and stopped instead of blocking ``make up``.
A process this object has just started is known by its handle, not by ``/proc``: for a moment
inside ``exec`` its environment and command line read empty there.
"""

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

__all__ = ["MARKER", "Managed", "StackError", "describe", "port_open"]

HealthCheck = Callable[[], str | None]  # None when healthy, else the reason
MARKER = "CDDS_STACK_PROCESS"
"""The environment variable that tags our processes (and their children) as ``name@run_dir``."""
WRAPPERS = ("runuser",)
"""Privilege-dropping wrappers earlier versions started servers under (their pid files name it)."""
ACCOUNT_VARIABLES = ("HOME", "SHELL", "USER", "LOGNAME")
"""Set from the account a server runs as (as ``runuser`` did), whatever its ``env`` says."""


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _stat(pid: int) -> list[str]:
    """``/proc/<pid>/stat`` after the command name: state, ppid, pgrp, … (empty if gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _alive(pid: int) -> bool:
    fields = _stat(pid)
    return bool(fields) and fields[0] not in ("Z", "X")


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [arg.decode(errors="replace") for arg in raw.split(b"\0")[:-1]]


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (entry.decode(errors="replace").partition("=") for entry in raw.split(b"\0"))
    return {name: value for name, _, value in pairs if name}


def _children(pid: int) -> list[int]:
    try:
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [int(child) for child in found]


def _listeners(ports: list[int]) -> dict[int, int]:
    """``{port: pid}`` of the processes listening on these TCP ports (any local address)."""
    inodes: dict[str, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            port = int(fields[1].rsplit(":", 1)[1], 16)
            if fields[3] == "0A" and port in ports:  # 0A: LISTEN
                inodes[f"socket:[{fields[9]}]"] = port
    found: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not inodes or not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (entry / "fd").iterdir():
                with contextlib.suppress(OSError):
                    held = inodes.get(os.readlink(fd))
                    if held is not None:
                        found.setdefault(held, int(entry.name))
    return found


def describe(pid: int) -> str:
    """``pid 123 (minio server …)`` for messages that tell the operator what to stop."""
    command = " ".join(_cmdline(pid))
    return f"pid {pid} ({command[:120]})" if command else f"pid {pid}"


class StackError(RuntimeError):
    """A process could not be started; the message names it, the reason and its log."""


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
    _child: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def tag(self) -> str:
        """This server's ``MARKER`` value: its name and the stack's run directory."""
        return f"{self.name}@{self.run_dir}"

    def _recorded(self) -> int | None:
        """The pid file's process if it is alive and ours (a reused pid is not)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) and self._ours(pid) else None

    def _running_child(self) -> int | None:
        """The process :meth:`start` started, while it runs. Its ``/proc`` entry cannot vouch for
        it yet: for a moment inside ``exec`` (the parent already resumed) its environment and
        command line read empty, so it would look like someone else's — or gone."""
        if self._child is not None and self._child.poll() is None:
            return self._child.pid
        return None

    def pid(self) -> int | None:
        """The server's pid: for an older pid file naming a wrapper, the wrapper's child."""
        child = self._running_child()
        if child is not None:
            return child
        pid = self._recorded()
        if pid is not None and Path((_cmdline(pid) or [""])[0]).name in WRAPPERS:
            children = [c for c in _children(pid) if _alive(c)]
            return children[0] if children else pid
        return pid

    def _ours(self, pid: int, *, orphan: bool = False) -> bool:
        """Whether ``pid`` is this server: tagged by us, or started by an older stack (untagged)
        running exactly our command — directly, as an interpreted script, or under a wrapper.
        An untagged ``orphan`` (no pid file vouches for it) must also have our environment:
        another checkout's services run the same command with other settings."""
        environ = _environ(pid)
        if environ.get(MARKER) == self.tag:
            return True
        args = _cmdline(pid)
        forms = [args, args[1:]]
        if not orphan and args and Path(args[0]).name in WRAPPERS and "--" in args:
            forms.append(args[args.index("--") + 1 :])
        if self.command not in forms:
            return False
        return not orphan or all(
            environ.get(name) == value
            for name, value in self.env.items()
            if name not in ACCOUNT_VARIABLES
        )

    def taken_ports(self, host: str) -> list[int]:
        return [p for p in self.ports if port_open(host, p)]

    def holders(self) -> dict[int, int]:
        """``{port: pid}`` of whatever listens on this server's ports."""
        return _listeners(self.ports)

    def orphans(self) -> list[int]:
        """Servers of ours that hold our ports although no pid file names them."""
        if self.pid() is not None:
            return []
        return sorted({pid for pid in self.holders().values() if self._ours(pid, orphan=True)})

    def start(self) -> int:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env, MARKER: self.tag}
        uid: int | None = None
        gid: int | None = None
        groups: list[int] | None = None
        if self.user and os.geteuid() == 0:
            account = pwd.getpwnam(self.user)  # fail clearly if the account is missing
            uid, gid = account.pw_uid, account.pw_gid
            groups = os.getgrouplist(account.pw_name, account.pw_gid)
            # What ``runuser -u`` set before (RabbitMQ finds its Erlang cookie under HOME).
            env.update(  # ACCOUNT_VARIABLES
                HOME=account.pw_dir,
                SHELL=account.pw_shell,
                USER=account.pw_name,
                LOGNAME=account.pw_name,
            )
        with self.log_file.open("ab") as log:
            # Privileges drop in the child before exec: the pid is the server's, not a wrapper's.
            proc = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.cwd,
                start_new_session=True,
                user=uid,
                group=gid,
                extra_groups=groups,
            )
        self._child = proc
        self.pid_file.write_text(f"{proc.pid}\n")
        return proc.pid

    def wait_healthy(self, timeout: float) -> str | None:
        """Poll the health check; ``None`` once healthy, else the last reason (or death)."""
        deadline = time.monotonic() + timeout
        reason: str | None = "not checked"
        while time.monotonic() < deadline:
            if self.pid() is None:
                code = self._child.returncode if self._child is not None else None
                return "the process exited" + _how(code)
            reason = self.health()
            if reason is None:
                return None
            time.sleep(0.3)
        return f"not healthy after {timeout:.0f}s: {reason}"

    def stop(self, timeout: float = 30.0) -> bool:
        """Signal the process group, wait, then SIGKILL what is left; an orphan of ours on our
        ports too. True if something was running."""
        pid = self._running_child() or self._recorded()
        targets = [pid] if pid is not None else self.orphans()
        for target in targets:
            self._stop_group(target, timeout)
        self.pid_file.unlink(missing_ok=True)
        return bool(targets)

    def _stop_group(self, pid: int, timeout: float) -> None:
        fields = _stat(pid)
        pgid = int(fields[2]) if fields else pid
        if pgid == os.getpgrp():  # never our own group: signal the one process
            self._stop_one(pid, timeout)
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, self.stop_signal)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _group_alive(pgid):
            time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)

    def _stop_one(self, pid: int, timeout: float) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, self.stop_signal)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log yet)"


def _how(returncode: int | None) -> str:
    """`` (exit status 3)`` or `` (killed by SIGKILL)`` for a message; empty when unknown."""
    if returncode is None:
        return ""
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f" (killed by {signal.Signals(-returncode).name})"
    return f" (exit status {returncode})"


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
