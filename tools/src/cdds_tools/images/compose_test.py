"""``make compose-test``: docker-compose.yml built and run for real. The four service images from
their Dockerfiles (``make images``), the servers as local stand-ins (no registry here), the whole
stack up under ``docker-compose`` against Podman until every healthcheck passes, the demo's export
through the containerised gateway, then ``down``, leaving no container, network or volume.

Its published ports are a private block (``CDDS_COMPOSE_TEST_PORT_BASE``, default 25800: gateway
+9, PostgreSQL +4, MinIO +7/+8, RabbitMQ management +1), so it runs beside ``make up``.

    python -m cdds_tools.images.compose_test
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from types import FrameType

from cdds_tools.devstack.config import find_root
from cdds_tools.images.bases import make_server_images
from cdds_tools.images.build import build_all
from cdds_tools.images.compose import Compose, PodmanService
from cdds_tools.images.engine import Engine, EngineError, step
from cdds_tools.images.export_check import Admin, ExportCheck

__all__ = ["PROJECT", "main", "standin_override"]

PROJECT = "cdds-compose-test"
HEALTHY = {"rabbitmq", "mongo", "minio", "postgres", "gateway", "exporter", "encryptor", "janitor"}
ONE_SHOTS = {"ucs-migrate"}


def _python_probe(url: str) -> list[str]:
    # The stand-ins have Python (not mongosh or mc); CMD-SHELL, as in docker-compose.yml.
    code = f"import urllib.request; urllib.request.urlopen('{url}', timeout=3)"
    return ["CMD-SHELL", f'python3.11 -c "{code}"']


def standin_override(postgres_port: int) -> dict[str, object]:
    """What the stand-ins need beside docker-compose.yml: their own healthchecks (FerretDB's and
    MinIO's HTTP probes) and UCS's PostgreSQL on loopback, for the comparison from the host."""
    return {
        "services": {
            "mongo": {"healthcheck": {"test": _python_probe("http://127.0.0.1:8088/debug/readyz")}},
            "minio": {
                "healthcheck": {"test": _python_probe("http://127.0.0.1:9000/minio/health/ready")}
            },
            "postgres": {"ports": [f"127.0.0.1:{postgres_port}:5432"]},
        }
    }


def _interrupted(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _admin_in(engine: Engine, compose: Compose) -> Admin:
    def admin(args: list[str], stdin: str | None) -> tuple[int, str]:
        (exporter,) = [
            c["Id"]
            for c in compose.containers()
            if c["Config"]["Labels"].get("com.docker.compose.service") == "exporter"
        ]
        done = engine.run(
            "exec", "-i", exporter, "cdds-admin", *args, input_text=stdin or "", check=False
        )
        return done.returncode, done.stdout + done.stderr

    return admin


def _run(root: Path, engine: Engine, base: int, workdir: Path) -> str:
    with step("make images: the four service images from their Dockerfiles"):
        bases, _ = build_all(engine)
    with step("server stand-ins (RabbitMQ, PostgreSQL, FerretDB, MinIO; cached)"):
        servers = make_server_images(engine, bases)
    override = workdir / "standins.json"
    override.write_text(json.dumps(standin_override(base + 4), indent=2), encoding="utf-8")
    variables = {
        **servers.images,
        "GATEWAY_PORT": str(base + 9),
        "MINIO_PORT": str(base + 7),
        "MINIO_CONSOLE_PORT": str(base + 8),
        "RABBITMQ_MANAGEMENT_PORT": str(base + 1),
    }
    service = PodmanService(engine, workdir / "podman.sock")
    try:
        if engine.is_podman:
            with step("podman system service (the Docker API for docker-compose)"):
                variables["DOCKER_HOST"] = service.start()
        compose = Compose(engine, PROJECT, [root / "docker-compose.yml", override], variables)
        compose.down()  # what an interrupted run may have left
        try:
            with step("docker-compose up (healthchecks run by compose-test: no systemd)"):
                compose.up(timeout=600)
            with step("every service healthy, ucs-migrate done"):
                compose.wait_healthy(HEALTHY, ONE_SHOTS, timeout=240)
            check = ExportCheck(
                gateway_url=f"http://127.0.0.1:{base + 9}",
                ucs_dsn=f"postgresql://cdds:cdds@127.0.0.1:{base + 4}/ucs",
                admin=_admin_in(engine, compose),
                workdir=workdir / "export",
            )
            with step("UCS rows and the demo account (the exporter image's cdds-admin)"):
                check.prepare(contacts=200, interactions=2000)
            with step("export through the containerised gateway, openssl cms -decrypt, compare"):
                summary = asyncio.run(check.run())
                print(f"   {summary}")
        finally:
            with step("docker-compose down: no container, network or volume left"):
                left = compose.down()
            if left:
                raise EngineError("left after down (now removed by force): " + ", ".join(left))
    finally:
        service.stop()
    return summary


def main() -> int:
    began = time.monotonic()
    signal.signal(signal.SIGTERM, _interrupted)
    root = find_root()
    base = int(os.environ.get("CDDS_COMPOSE_TEST_PORT_BASE", "25800"))
    workdir = root / ".local" / "compose-test"
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        engine = Engine.find(root)
        _run(root, engine, base, workdir)
    except (EngineError, RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"make compose-test: FAILED after {time.monotonic() - began:.0f}s: {exc}")
        return 1
    except Exception:  # e.g. an HTTP error of the gateway: its traceback says where
        traceback.print_exc()
        print(f"make compose-test: FAILED after {time.monotonic() - began:.0f}s")
        return 1
    print(f"make compose-test: OK in {time.monotonic() - began:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
