"""The stack's own services: the gateway through its launcher and each worker through
``faststream run``, with the stack's settings in their environment."""

from __future__ import annotations

from cdds_tools.devstack import health
from cdds_tools.devstack.config import StackConfig
from cdds_tools.devstack.process import Managed
from cdds_tools.devstack.servers import managed

__all__ = ["SERVICES", "gateway", "worker"]

SERVICES = ("gateway", "exporter", "encryptor", "janitor")


def _service_env(c: StackConfig, port: int) -> dict[str, str]:
    return {
        **c.env(),
        "CDDS_WORKER__HOST": c.host,
        "CDDS_WORKER__PORT": str(port),
        "PYTHONUNBUFFERED": "1",
    }


def gateway(c: StackConfig) -> Managed:
    return managed(
        c,
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
        env=_service_env(c, c.gateway_port),
        cwd=c.root,
    )


def worker(c: StackConfig, name: str, port: int) -> Managed:
    return managed(
        c,
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
        env=_service_env(c, port),
        cwd=c.root,
    )
