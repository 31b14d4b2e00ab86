"""The gateway's logs under its real launcher (``python -m cdds_gateway.serve``, uvicorn as
configured there), its output piped (not a TTY): every line is one JSON object, each request
has one access line with its method, path, status, duration, client and request id; a given
``X-Request-ID`` reaches the audit entry of a sign-in; ``X-Forwarded-For`` counts only from a
trusted proxy (docs/operations.md, "Logs")."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cdds_shared.audit import AuditEvent
from tests.gateway.conftest import Gateway, running_gateway
from tests.infra import StackInfo, free_port

pytestmark = pytest.mark.integration

TRUSTED, UNTRUSTED = "127.0.0.1", "127.0.0.2"  # both loopback; only the first is a proxy


@dataclass
class Launched:
    port: int
    log: Path
    proc: asyncio.subprocess.Process
    gateway: Gateway  # in-process twin on the same database: reads the audit log

    def client(self, local: str) -> httpx.AsyncClient:
        transport = httpx.AsyncHTTPTransport(local_address=local)
        return httpx.AsyncClient(transport=transport, base_url=f"http://127.0.0.1:{self.port}")

    async def stop(self) -> list[str]:
        """SIGTERM, awaited; every line it wrote."""
        if self.proc.returncode is None:
            self.proc.terminate()
            await asyncio.wait_for(self.proc.wait(), 60)
        return self.log.read_text().splitlines()


@pytest.fixture(scope="module")
async def launched(
    stack: StackInfo, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Launched]:
    async with running_gateway(stack) as gateway:
        s = gateway.settings
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CDDS_")}
        env |= stack.env() | {
            "CDDS_ENVIRONMENT": "test",
            "CDDS_STARTUP_TIMEOUT_SECONDS": "10",
            "CDDS_MONGO__DATABASE": s.mongo.database,
            "CDDS_MINIO__BUCKET": s.minio.bucket,
            "CDDS_GATEWAY__URL": f"http://127.0.0.1:{port}",
            "CDDS_GATEWAY__TRUSTED_PROXIES": json.dumps([f"{TRUSTED}/32"]),
        }
        log = tmp_path_factory.mktemp("logs") / "gateway.log"
        with log.open("ab") as out:  # a file: not a TTY, so JSON
            proc = await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "cdds_gateway.serve", "--host", "127.0.0.1"),
                *("--port", str(port)),
                env=env,
                stdout=out,
                stderr=out,
            )
        running = Launched(port, log, proc, gateway)
        try:
            await _wait_ready(running)
            yield running
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


async def _wait_ready(launched: Launched) -> None:
    deadline = time.monotonic() + 60
    async with launched.client(TRUSTED) as client:
        while time.monotonic() < deadline:
            assert launched.proc.returncode is None, launched.log.read_text()[-3000:]
            try:
                if (await client.get("/readyz", timeout=2)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"the launcher did not become ready: {launched.log.read_text()[-3000:]}")


async def _failed_sign_in(launched: Launched, local: str, name: str, request_id: str) -> None:
    async with launched.client(local) as client:
        response = await client.post(
            "/api/v1/session",
            json={"username": name, "password": "wrong"},
            headers={
                "X-Request-ID": request_id,
                "X-Forwarded-For": "203.0.113.9",
                "X-Forwarded-Proto": "https",
            },
        )
    assert response.status_code == 401, response.text
    assert response.headers["x-request-id"] == request_id


async def _audit_of(launched: Launched, name: str) -> AuditEvent:
    (event,) = await launched.gateway.deps.audit.find(actor=name, action="session.create")
    return event


async def test_requests_are_logged_as_json_with_their_ids_and_audited(
    launched: Launched,
) -> None:
    tag = uuid.uuid4().hex[:8]
    via_proxy, direct = f"proxied-{tag}", f"direct-{tag}"
    # Given requests from the trusted proxy and from elsewhere, with and without an id
    await _failed_sign_in(launched, TRUSTED, f"nobody-{tag}", via_proxy)
    await _failed_sign_in(launched, UNTRUSTED, f"somebody-{tag}", direct)
    async with launched.client(UNTRUSTED) as client:
        missing = await client.get("/api/v1/no-such-route", headers={"X-Request-ID": "bad id!"})
    assert missing.status_code == 404
    made = missing.headers["x-request-id"]
    assert len(made) == 32 and made != "bad id!"

    # Then the audit entries carry the request ids, and the client the proxy forwarded only
    # when the proxy is trusted
    proxied, plain = (
        await _audit_of(launched, f"nobody-{tag}"),
        await _audit_of(launched, f"somebody-{tag}"),
    )
    assert (proxied.request_id, proxied.client) == (via_proxy, "203.0.113.9")
    assert (plain.request_id, plain.client) == (direct, UNTRUSTED)

    # And once it stopped, every line it wrote is one JSON object
    lines = await launched.stop()
    assert launched.proc.returncode == 0
    logged: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        try:
            logged.append(json.loads(line))
        except json.JSONDecodeError:
            raise AssertionError(f"line {number} is not JSON: {line!r}") from None
    assert all(isinstance(entry, dict) and "event" in entry for entry in logged)
    assert any(e.get("logger") == "uvicorn.error" for e in logged), "uvicorn's own lines too"
    assert not any(e.get("logger") == "uvicorn.access" for e in logged), "one access line each"
    access = {e["request_id"]: e for e in logged if e.get("logger") == "cdds.gateway.access"}
    for request_id, client in ((via_proxy, "203.0.113.9"), (direct, UNTRUSTED)):
        line = access[request_id]
        assert (line["method"], line["path"], line["status"]) == ("POST", "/api/v1/session", 401)
        assert line["client"] == client and line["duration_ms"] >= 0
    assert (access[made]["path"], access[made]["status"]) == ("/api/v1/no-such-route", 404)
