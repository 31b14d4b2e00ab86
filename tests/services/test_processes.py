"""Each service as the real process it runs as (``uvicorn --factory`` / ``faststream run
--factory``): healthy against the real stack, one clear line when a setting is wrong."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.infra import StackInfo, free_port

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
SERVICES = ["gateway", "exporter", "encryptor", "janitor"]


def _command(service: str, port: int) -> list[str]:
    """The service's real command line, as the stack and the images run it."""
    runner = ["uvicorn"] if service == "gateway" else ["faststream", "run"]
    runner[0] = str(BIN / runner[0])
    target = f"cdds_{service}.app:create_app"
    return [*runner, "--factory", target, "--host", "127.0.0.1", "--port", str(port)]


def _env(stack: StackInfo, port: int, **overrides: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CDDS_")}
    return {
        **base,
        **stack.env(),
        "CDDS_ENVIRONMENT": "test",
        "CDDS_WORKER__PORT": str(port),
        "CDDS_STARTUP_TIMEOUT_SECONDS": "0",
        **overrides,
    }


@pytest.fixture
def spawn() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def _wait_ready(url: str, proc: subprocess.Popen[str], timeout: float = 30) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"exited early: {proc.communicate()[1][-2000:]}"
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code == 200:
                return response
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} not ready after {timeout}s")


@pytest.mark.parametrize("service", SERVICES)
def test_service_is_ready_then_stops_on_sigterm(
    stack: StackInfo, service: str, spawn: list[subprocess.Popen[str]]
) -> None:
    port = free_port()
    proc = subprocess.Popen(
        _command(service, port),
        env=_env(stack, port),
        text=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    spawn.append(proc)
    ready = _wait_ready(f"http://127.0.0.1:{port}/readyz", proc)
    assert ready.json()["status"] == "ready"
    assert set(ready.json()["checks"].values()) == {"ok"}
    assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    proc.send_signal(signal.SIGTERM)
    # Graceful: exits by itself. Recent uvicorn re-raises the signal after shutting down cleanly.
    assert proc.wait(30) in (0, -signal.SIGTERM)
    assert "Traceback" not in proc.communicate()[1]


@pytest.mark.parametrize(
    ("service", "override", "setting"),
    [
        (
            "gateway",
            {"CDDS_RABBIT__URL": "amqp://guest:wrong@127.0.0.1:{rabbit_port}/"},
            "CDDS_RABBIT__URL",
        ),
        (
            "exporter",
            {"CDDS_UCS__DSN": "postgresql://cdds:wrong@127.0.0.1:{pg_port}/ucs"},
            "CDDS_UCS__DSN",
        ),
        ("encryptor", {"CDDS_MONGO__URL": "mongodb://127.0.0.1:{dead_port}/"}, "CDDS_MONGO__URL"),
        ("janitor", {"CDDS_MINIO__SECRET_KEY": "not-the-secret"}, "CDDS_MINIO__SECRET_KEY"),
        ("gateway", {"CDDS_GATEWAY__PORT": "eighty"}, "CDDS_GATEWAY__PORT"),
        (
            "exporter",
            {
                "CDDS_ENVIRONMENT": "production",
                "CDDS_RABBIT__URL": "amqp://guest:guest@127.0.0.1:{rabbit_port}/",
            },
            "CDDS_RABBIT__URL",
        ),
    ],
)
def test_bad_setting_gives_one_clear_line(
    stack: StackInfo, service: str, override: dict[str, str], setting: str
) -> None:
    port = free_port()
    values = {
        "rabbit_port": stack.rabbit_url.rsplit(":", 1)[1].strip("/"),
        "pg_port": stack.ucs_dsn.rsplit(":", 1)[1].split("/")[0],
        "dead_port": str(free_port()),
    }
    env = _env(stack, port, **{k: v.format(**values) for k, v in override.items()})
    result = subprocess.run(
        _command(service, port), env=env, text=True, capture_output=True, timeout=60
    )
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith(f"cdds-{service}:")]
    assert len(lines) == 1, result.stderr[-3000:]
    assert setting in lines[0]
    assert "Traceback" not in result.stderr
    assert "wrong" not in lines[0]  # no secrets echoed
    assert "not-the-secret" not in lines[0]
