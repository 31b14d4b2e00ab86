"""The stack: what runs, in which order, how it is prepared, started, checked and stopped."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cdds_tools.devstack import health
from cdds_tools.devstack.config import StackConfig
from cdds_tools.devstack.process import Managed, describe
from cdds_tools.devstack.rabbit_users import GUEST, ensure_users

__all__ = ["INFRA", "SERVICES", "Stack", "StackError", "StatusRow"]

PG_BIN = Path("/usr/lib/postgresql/15/bin")
RABBIT_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
INFRA = ("rabbitmq", "postgres", "ferretdb", "minio")
SERVICES = ("gateway", "exporter", "encryptor", "janitor")


class StackError(RuntimeError):
    """A process could not be started; the message names it, the reason and its log."""


@dataclass(frozen=True)
class StatusRow:
    name: str
    pid: int | None
    ports: list[int]
    health: str  # "healthy", "stopped" or the reason it is unhealthy
    log: Path


def _own(path: Path, user: str | None) -> None:
    """Give a data folder to the account its server runs as (when we are root)."""
    path.mkdir(parents=True, exist_ok=True)
    if user and os.geteuid() == 0:
        account = pwd.getpwnam(user)
        os.chown(path, account.pw_uid, account.pw_gid)
        path.chmod(0o700)


class Stack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        builders: dict[str, Callable[[], Managed]] = {
            "rabbitmq": self._rabbitmq,
            "postgres": self._postgres,
            "ferretdb": self._ferretdb,
            "minio": self._minio,
            "gateway": self._gateway,
            "exporter": lambda: self._worker("exporter", config.exporter_port),
            "encryptor": lambda: self._worker("encryptor", config.encryptor_port),
            "janitor": lambda: self._worker("janitor", config.janitor_port),
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

    # -- the processes ---------------------------------------------------------------------

    def _managed(self, name: str, command: list[str], ports: list[int], **kw: object) -> Managed:
        c = self.config
        return Managed(
            name=name,
            command=command,
            ports=ports,
            run_dir=c.run,
            log_file=c.logs / f"{name}.log",
            **kw,  # type: ignore[arg-type]
        )

    def _rabbitmq(self) -> Managed:
        c = self.config
        base = c.data / "rabbitmq"
        user = "rabbitmq"

        def prepare() -> None:
            for sub in ("", "home", "mnesia", "log"):
                _own(base / sub, user)
            (base / "rabbitmq.conf").write_text(
                f"listeners.tcp.default = {c.host}:{c.rabbit_port}\n"
                f"management.tcp.ip = {c.host}\n"
                f"management.tcp.port = {c.rabbit_management_port}\n"
                "loopback_users.guest = true\n"
                # Quorum queues fsync to the WAL; keep the dev machine's disk alarm out of the way.
                "disk_free_limit.absolute = 200MB\n"
            )
            (base / "enabled_plugins").write_text("[rabbitmq_management].\n")
            (base / "rabbitmq-env.conf").write_text("")

        env = {
            "HOME": str(base / "home"),
            "RABBITMQ_NODENAME": "rabbit@localhost",
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq"),
            "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(base / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_DIST_PORT": str(c.rabbit_dist_port),
            "ERL_EPMD_PORT": str(c.epmd_port),
            "ERL_EPMD_ADDRESS": c.host,
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }
        return self._managed(
            "rabbitmq",
            [str(RABBIT_SERVER)],
            [c.rabbit_port, c.rabbit_management_port, c.rabbit_dist_port],
            health=lambda: health.rabbit_ok(
                c.host, c.rabbit_port, c.rabbit_management_port, [c.rabbit_users().ops, GUEST]
            ),
            env=env,
            user=user,
            cwd=base,
            prepare=prepare,
            # Idempotent: the operator and the services' user; guest deleted (rabbit_users.py).
            after_start=lambda: ensure_users(
                f"http://{c.host}:{c.rabbit_management_port}", c.rabbit_users()
            ),
            start_timeout=90.0,
        )

    def _postgres(self) -> Managed:
        c = self.config
        base = c.data / "postgres"
        pgdata = base / "data"
        sockets = c.server_base / "pg-sockets"
        user = "postgres"

        def as_user(cmd: list[str]) -> list[str]:
            return ["runuser", "-u", user, "--", *cmd] if os.geteuid() == 0 else cmd

        def prepare() -> None:
            _own(base, user)
            _own(sockets, user)
            if not (pgdata / "PG_VERSION").exists():
                subprocess.run(
                    as_user(
                        [
                            str(PG_BIN / "initdb"),
                            "-D",
                            str(pgdata),
                            "-U",
                            "postgres",
                            "--auth-local=trust",
                            "--auth-host=scram-sha-256",
                            "-E",
                            "UTF8",
                            "--locale=C.UTF-8",
                        ]
                    ),
                    check=True,
                    capture_output=True,
                )

        def after_start() -> None:
            # Idempotent: the role and database of the UCS source, reached over TCP with a password.
            sql = (
                "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'cdds') THEN "
                f"CREATE ROLE cdds LOGIN CREATEDB PASSWORD '{c.ucs_password}'; END IF; END $$;"
            )
            psql = [
                str(PG_BIN / "psql"),
                "-h",
                str(sockets),
                "-p",
                str(c.postgres_port),
                "-U",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-qAt",
            ]
            subprocess.run([*psql, "-c", sql], check=True, capture_output=True)
            exists = subprocess.run(
                [*psql, "-c", "SELECT 1 FROM pg_database WHERE datname = 'ucs'"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            if not exists:
                subprocess.run(
                    [*psql, "-c", "CREATE DATABASE ucs OWNER cdds"], check=True, capture_output=True
                )
            from cdds_shared.ucs.migrate import migrate

            migrate(c.env()["CDDS_UCS__DSN"])  # idempotent: the UCS schema the exporter reads

        return self._managed(
            "postgres",
            [
                str(PG_BIN / "postgres"),
                "-D",
                str(pgdata),
                "-p",
                str(c.postgres_port),
                "-c",
                f"listen_addresses={c.host}",
                "-c",
                f"unix_socket_directories={sockets}",
                "-c",
                "max_connections=200",
                "-c",
                "shared_buffers=256MB",
                "-c",
                "fsync=on",
                "-c",
                "synchronous_commit=off",
            ],
            [c.postgres_port],
            health=lambda: health.postgres_ok(str(PG_BIN / "pg_isready"), c.host, c.postgres_port),
            user=user,
            stop_signal=signal.SIGINT,  # "fast" shutdown: does not wait for clients to leave
            prepare=prepare,
            after_start=after_start,
        )

    def _binary(self, name: str) -> Path:
        """The Go-built server, copied beside the data so its unprivileged account can run it."""
        return self.config.server_base / "bin" / name

    def _prepare_go_server(self, name: str, data: Path) -> None:
        _own(data, "nobody")
        self._install_binary(name)

    def _install_binary(self, name: str) -> None:
        source = (self.config.bin_dir / name).resolve()
        target = self._binary(name)
        if not source.exists():
            raise StackError(
                f"{name}: {source} is missing; run scripts/bootstrap.sh (make bootstrap)"
            )
        if not target.exists() or target.stat().st_mtime < source.stat().st_mtime:
            shutil.copy2(source, target.with_suffix(".tmp"))
            target.with_suffix(".tmp").replace(target)

    def _ferretdb(self) -> Managed:
        c = self.config
        base = c.data / "ferretdb"
        return self._managed(
            "ferretdb",
            [
                str(self._binary("ferretdb")),
                "--handler=sqlite",
                f"--sqlite-url=file:{base}/",
                f"--listen-addr={c.host}:{c.mongo_port}",
                f"--debug-addr={c.host}:{c.ferretdb_debug_port}",
                f"--state-dir={base}",
                "--telemetry=disable",
                "--log-level=warn",
            ],
            [c.mongo_port, c.ferretdb_debug_port],
            health=lambda: health.mongo_ok(f"mongodb://{c.host}:{c.mongo_port}/"),
            # FerretDB 1.24 spends about a third of a listing's CPU collecting garbage at the
            # default GOGC=100; 1000 with a memory limit measured 1.9x the requests of make load.
            env={"GOGC": "1000", "GOMEMLIMIT": "512MiB"},
            user="nobody",
            prepare=lambda: self._prepare_go_server("ferretdb", base),
        )

    def _minio(self) -> Managed:
        c = self.config
        base = c.data / "minio"
        return self._managed(
            "minio",
            [
                str(self._binary("minio")),
                "server",
                str(base),
                "--quiet",
                "--address",
                f"{c.host}:{c.minio_port}",
                "--console-address",
                f"{c.host}:{c.minio_console_port}",
            ],
            [c.minio_port, c.minio_console_port],
            health=lambda: health.http_ok(f"http://{c.host}:{c.minio_port}/minio/health/ready"),
            env={
                "MINIO_ROOT_USER": c.minio_access_key,
                "MINIO_ROOT_PASSWORD": c.minio_secret_key,
                "MINIO_BROWSER": "on",
                "MINIO_UPDATE": "off",
                "HOME": str(base),
            },
            user="nobody",
            prepare=lambda: self._prepare_go_server("minio", base),
        )

    def _service_env(self, port: int) -> dict[str, str]:
        return {
            **self.config.env(),
            "CDDS_WORKER__HOST": self.config.host,
            "CDDS_WORKER__PORT": str(port),
            "PYTHONUNBUFFERED": "1",
        }

    def _gateway(self) -> Managed:
        c = self.config
        return self._managed(
            "gateway",
            [  # the gateway's launcher: uvicorn with the edge's limits (docs/operations.md)
                str(c.venv_bin / "python"),
                "-m",
                "cdds_gateway.serve",
                "--host",
                c.host,
                "--port",
                str(c.gateway_port),
                "--no-access-log",
            ],
            [c.gateway_port],
            health=lambda: health.http_ok(f"http://{c.host}:{c.gateway_port}/readyz"),
            env=self._service_env(c.gateway_port),
            cwd=c.root,
        )

    def _worker(self, name: str, port: int) -> Managed:
        c = self.config
        return self._managed(
            name,
            [
                str(c.venv_bin / "faststream"),
                "run",
                "--factory",
                f"cdds_{name}.app:create_app",
                "--host",
                c.host,
                "--port",
                str(port),
            ],
            [port],
            health=lambda: health.http_ok(f"http://{c.host}:{port}/readyz"),
            env=self._service_env(port),
            cwd=c.root,
        )
