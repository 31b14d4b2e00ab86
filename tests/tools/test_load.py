"""``make load`` end to end, briefly: 2 clients for 2 s against a real gateway served over HTTP on
loopback (its own database), with a small seeded tenant; the report counts every answer."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator

import pytest
import uvicorn

from cdds_tools.load.run import is_loopback, parse, run
from tests.gateway.conftest import Gateway, running_gateway
from tests.infra import StackInfo, free_port

pytestmark = pytest.mark.integration


@pytest.fixture
async def served(stack: StackInfo) -> AsyncIterator[tuple[Gateway, str]]:
    """A gateway app inside its lifespan, served by uvicorn on 127.0.0.1."""
    async with running_gateway(stack) as gateway:
        port = free_port()
        config = uvicorn.Config(
            gateway.app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"
        )
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve())
        try:
            async with asyncio.timeout(20):
                while not server.started:  # noqa: ASYNC110 - uvicorn offers only the flag
                    await asyncio.sleep(0.05)
            yield gateway, f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            await asyncio.wait_for(serving, 20)


async def test_load_reports_every_request_and_exits_0(served: tuple[Gateway, str]) -> None:
    gateway, url = served
    lines: list[str] = []
    options = parse(
        [
            "--clients", "2", "--seconds", "2", "--runs", "5", "--artifacts", "2",
            "--tenant", f"load-{uuid.uuid4().hex[:8]}",
            "--ucs-tenant-id", str(random.randrange(1, 2**31)),
            "--url", url,
        ]
    )  # fmt: skip
    status = await run(gateway.settings, options, lines.append)

    report = "\n".join(lines)
    assert status == 0, report
    rows = {line.split()[1]: line.split() for line in report.splitlines() if line[:4] == "GET "}
    assert set(rows) == {"/api/v1/runs", "/api/v1/artifacts", "/api/v1/runs/{id}"}, report
    for row in rows.values():
        requests, ok, client_errors, server_errors, unanswered = map(int, row[2:7])
        assert requests > 0 and ok == requests, report
        assert client_errors == server_errors == unanswered == 0, report
    assert "requests/s" in report


def test_load_goes_only_to_loopback() -> None:
    assert is_loopback("http://127.0.0.1:8080") and is_loopback("http://localhost:8080")
    assert is_loopback("http://[::1]:8080")
    assert not is_loopback("http://10.0.0.5:8080") and not is_loopback("http://example.org")
