"""The stack: what runs, in which order, how it is started, checked and stopped (each process's
launch spec: :mod:`~cdds_tools.devstack.servers` and :mod:`~cdds_tools.devstack.services`)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cdds_tools.devstack import servers, services
from cdds_tools.devstack.config import StackConfig
from cdds_tools.devstack.process import Managed, StackError, describe
from cdds_tools.devstack.servers import INFRA
from cdds_tools.devstack.services import SERVICES

__all__ = ["INFRA", "SERVICES", "Stack", "StackError", "StatusRow"]


@dataclass(frozen=True)
class StatusRow:
    name: str
    pid: int | None
    ports: list[int]
    health: str  # "healthy", "stopped" or the reason it is unhealthy
    log: Path


class Stack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        builders: dict[str, Callable[[], Managed]] = {
            "rabbitmq": lambda: servers.rabbitmq(config),
            "postgres": lambda: servers.postgres(config),
            "ferretdb": lambda: servers.ferretdb(config),
            "minio": lambda: servers.minio(config),
            "gateway": lambda: services.gateway(config),
            "exporter": lambda: services.worker(config, "exporter", config.exporter_port),
            "encryptor": lambda: services.worker(config, "encryptor", config.encryptor_port),
            "janitor": lambda: services.worker(config, "janitor", config.janitor_port),
        }
        self.processes = {name: build() for name, build in builders.items()}

    # -- lifecycle -------------------------------------------------------------------------

    def up(
        self, names: tuple[str, ...] = INFRA + SERVICES, log: Callable[[str], None] = print
    ) -> None:
        c = self.config
        for folder in (c.local, c.server_base, c.data, c.logs, c.run, c.server_base / "bin"):
            folder.mkdir(parents=True, exist_ok=True)
            folder.chmod(0o755)  # the servers' own accounts must traverse into their folders
        if c.server_base != c.local and not (c.local / "data").exists():
            (c.local / "data").symlink_to(c.data)
        self.write_env()
        for name in names:
            proc = self.processes[name]
            if proc.pid() is not None:
                reason = proc.wait_healthy(proc.start_timeout)
                if reason is None:
                    if proc.after_start:  # idempotent; applies e.g. migrations added since
                        proc.after_start()
                    log(f"{name:10} already running (pid {proc.pid()})")
                    continue
                raise StackError(f"{name} is running but unhealthy: {reason}; log: {proc.log_file}")
            orphans = proc.orphans()  # ours, left without a pid file (e.g. its wrapper killed)
            if orphans:
                left = ", ".join(map(describe, orphans))
                log(f"{name:10} stopping {left}: ours, left running without a pid file")
                proc.stop()
            taken = proc.taken_ports(c.host)
            if taken:
                holder = proc.holders().get(taken[0])
                who = describe(holder) if holder else "another process"
                raise StackError(
                    f"{name}: port {taken[0]} on {c.host} is taken by {who}; stop it or "
                    f"choose another port (see CDDS_STACK_*_PORT in the README)"
                )
            if proc.prepare:
                proc.prepare()
            pid = proc.start()
            reason = proc.wait_healthy(proc.start_timeout)
            if reason is not None:
                tail = proc.tail()
                proc.stop(timeout=5)
                raise StackError(
                    f"{name} failed to start: {reason}; log: {proc.log_file}\n"
                    f"--- last lines ---\n{tail}"
                )
            if proc.after_start:
                proc.after_start()
            log(f"{name:10} started (pid {pid}) on port {proc.ports[0]}")

    def down(self, log: Callable[[str], None] = print) -> None:
        for name in reversed(INFRA + SERVICES):
            if self.processes[name].stop():
                log(f"{name:10} stopped")
        # RabbitMQ's Erlang port mapper daemonises itself out of our process group.
        epmd = shutil.which("epmd") or "/usr/lib/erlang/bin/epmd"
        if Path(epmd).exists():
            subprocess.run(
                [epmd, "-port", str(self.config.epmd_port), "-kill"],
                capture_output=True,
                check=False,
            )

    def clean(self, log: Callable[[str], None] = print) -> None:
        """Stop everything; delete all local data and logs (``.local/``, its servers' folder)."""
        self.down(log)
        for folder in {self.config.server_base, self.config.local}:
            shutil.rmtree(folder, ignore_errors=True)
            log(f"removed {folder}")

    def status(self) -> list[StatusRow]:
        rows = []
        for name, proc in self.processes.items():
            pid = proc.pid()
            state = "stopped" if pid is None else (proc.health() or "healthy")
            if pid is None and (orphans := proc.orphans()):
                pid = orphans[0]
                state = "orphaned: ours but without a pid file; `make up` stops and restarts it"
            rows.append(StatusRow(name, pid, proc.ports, state, proc.log_file))
        return rows

    def write_env(self) -> Path:
        path = self.config.local / "stack.env"
        lines = [f"export {k}='{v}'" for k, v in self.config.env().items()]
        path.write_text(
            "# written by `make up`; use: source .local/stack.env\n" + "\n".join(lines) + "\n"
        )
        return path
