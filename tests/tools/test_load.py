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
from cdds_tools.load.wire import Connection, WireError
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


async def test_the_load_client_reads_whole_answers_and_reconnects() -> None:
    """Content-Length, chunked, and ``Connection: close`` (the next GET opens a new connection)."""
    answers = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    ]
    connections = 0
    requests: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        while answers:
            requests.append(await reader.readuntil(b"\r\n\r\n"))
            answer = answers.pop(0)
            writer.write(answer)
            await writer.drain()
            if b"Connection: close" in answer:
                break
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        connection = Connection(f"http://127.0.0.1:{port}", {"Authorization": "Bearer t"}, 5)
        statuses = [await connection.get(f"/{n}") for n in range(4)]
        await connection.close()

    assert statuses == [200, 404, 503, 200]
    assert connections == 2
    assert (
        requests[0].startswith(b"GET /0 HTTP/1.1\r\n") and b"Authorization: Bearer t" in requests[0]
    )


async def test_the_load_client_counts_a_refused_connection_as_no_answer() -> None:
    connection = Connection(f"http://127.0.0.1:{free_port()}", {}, 5)
    with pytest.raises(WireError):
        await connection.get("/")
