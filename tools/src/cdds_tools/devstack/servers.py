"""The stack's infrastructure servers: how RabbitMQ, PostgreSQL, FerretDB and MinIO are prepared,
launched, checked and set up, each as a :class:`Managed` process of :class:`StackConfig`."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
from pathlib import Path

from cdds_tools.devstack import health
from cdds_tools.devstack.config import StackConfig
from cdds_tools.devstack.process import Managed, StackError
from cdds_tools.devstack.rabbit_users import GUEST, ensure_users

__all__ = ["INFRA", "ferretdb", "managed", "minio", "postgres", "rabbitmq"]

PG_BIN = Path("/usr/lib/postgresql/15/bin")
RABBIT_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
INFRA = ("rabbitmq", "postgres", "ferretdb", "minio")


def managed(
    config: StackConfig, name: str, command: list[str], ports: list[int], **kw: object
) -> Managed:
    """A process of the stack, with its pid file and log in the stack's folders."""
    return Managed(
        name=name,
        command=command,
        ports=ports,
        run_dir=config.run,
        log_file=config.logs / f"{name}.log",
        **kw,  # type: ignore[arg-type]
    )


def _own(path: Path, user: str | None) -> None:
    """Give a data folder to the account its server runs as (when we are root)."""
    path.mkdir(parents=True, exist_ok=True)
    if user and os.geteuid() == 0:
        account = pwd.getpwnam(user)
        os.chown(path, account.pw_uid, account.pw_gid)
        path.chmod(0o700)


def rabbitmq(c: StackConfig) -> Managed:
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
    return managed(
        c,
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


def postgres(c: StackConfig) -> Managed:
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

    return managed(
        c,
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


def _binary(c: StackConfig, name: str) -> Path:
    """The Go-built server, copied beside the data so its unprivileged account can run it."""
    return c.server_base / "bin" / name


def _prepare_go_server(c: StackConfig, name: str, data: Path) -> None:
    _own(data, "nobody")
    _install_binary(c, name)


def _install_binary(c: StackConfig, name: str) -> None:
    source = (c.bin_dir / name).resolve()
    target = _binary(c, name)
    if not source.exists():
        raise StackError(f"{name}: {source} is missing; run scripts/bootstrap.sh (make bootstrap)")
    if not target.exists() or target.stat().st_mtime < source.stat().st_mtime:
        shutil.copy2(source, target.with_suffix(".tmp"))
        target.with_suffix(".tmp").replace(target)


def ferretdb(c: StackConfig) -> Managed:
    base = c.data / "ferretdb"
    return managed(
        c,
        "ferretdb",
        [
            str(_binary(c, "ferretdb")),
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
        prepare=lambda: _prepare_go_server(c, "ferretdb", base),
    )


def minio(c: StackConfig) -> Managed:
    base = c.data / "minio"
    return managed(
        c,
        "minio",
        [
            str(_binary(c, "minio")),
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
        prepare=lambda: _prepare_go_server(c, "minio", base),
    )
