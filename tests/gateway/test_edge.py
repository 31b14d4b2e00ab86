"""The HTTP edge against a real server process (``python -m cdds_gateway.serve``), over raw
sockets: slow bodies, half-sent headers, huge headers and bodies are cut off in bounded time and
memory (docs/operations.md § The HTTP edge). Counts are bounded (50 connections, not 500)."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.gateway.conftest import running_gateway
from tests.infra import StackInfo

HEADER_TIMEOUT, BODY_TIMEOUT = 2.0, 2.0
MAX_HEADER_BYTES, MAX_HEADERS, MAX_BODY = 8192, 40, 65536
CONNECTIONS = 50
SLACK = 5.0  # scheduling on a loaded 2-core machine; the timeouts themselves are 2 s


@dataclass(frozen=True)
class Server:
    port: int
    pid: int

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
async def server(
    stack: StackInfo, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Server]:
    """The launcher as a process, on this module's own database and bucket."""
    async with running_gateway(stack) as gateway:
        s = gateway.settings
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CDDS_")}
        env |= stack.env() | {
            "CDDS_ENVIRONMENT": "test",
            "CDDS_STARTUP_TIMEOUT_SECONDS": "10",
            "CDDS_MONGO__DATABASE": s.mongo.database,
            "CDDS_MINIO__BUCKET": s.minio.bucket,
            "CDDS_GATEWAY__URL": f"http://127.0.0.1:{port}",
            "CDDS_GATEWAY__HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
            "CDDS_GATEWAY__BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT),
            "CDDS_GATEWAY__MAX_HEADER_BYTES": str(MAX_HEADER_BYTES),
            "CDDS_GATEWAY__MAX_HEADERS": str(MAX_HEADERS),
            "CDDS_GATEWAY__MAX_BODY_BYTES": str(MAX_BODY),
        }
        log = tmp_path_factory.mktemp("edge") / "gateway.log"
        command = [sys.executable, "-m", "cdds_gateway.serve", "--host", "127.0.0.1"]
        with log.open("ab") as out:
            proc = await asyncio.create_subprocess_exec(
                *command,
                "--port",
                str(port),
                "--no-access-log",
                env=env,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )
        try:
            await _wait_ready(port, proc, log)
            assert proc.pid is not None
            yield Server(port, proc.pid)
        finally:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _wait_ready(port: int, proc: asyncio.subprocess.Process, log: Path) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        while time.monotonic() < deadline:
            assert proc.returncode is None, log.read_text()[-3000:]
            try:
                if (await client.get("/readyz", timeout=2)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"the launcher did not become ready: {log.read_text()[-3000:]}")


async def _until_closed(reader: asyncio.StreamReader, deadline: float) -> bytes:
    """Everything the server sends until it closes the connection (fails at ``deadline``)."""
    data = b""
    async with asyncio.timeout_at(deadline):
        try:
            while chunk := await reader.read(65536):
                data += chunk
        except ConnectionError:
            pass  # closed with our unread bytes in its buffer: the kernel resets
    return data


async def _connect(server: Server) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", server.port)


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


@pytest.fixture
def sockets() -> Iterator[list[asyncio.StreamWriter]]:
    opened: list[asyncio.StreamWriter] = []
    yield opened
    for writer in opened:
        writer.close()


# -- a request that behaves ----------------------------------------------------------------------


async def test_keep_alive_requests_are_served(server: Server) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
        for _ in range(3):  # one connection, the header deadline re-armed for each request
            response = await client.get("/healthz")
            assert response.status_code == 200
            assert response.headers["x-content-type-options"] == "nosniff"
            await asyncio.sleep(0)


# -- bodies --------------------------------------------------------------------------------------


async def test_announced_bodies_that_never_come_are_closed_within_the_body_timeout(
    server: Server, sockets: list[asyncio.StreamWriter]
) -> None:
    # Given 50 connections announcing a small JSON body and sending none of it
    head = (
        b"POST /api/v1/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n"
    )
    started = time.monotonic()
    streams = [await _connect(server) for _ in range(CONNECTIONS)]
    for _, writer in streams:
        sockets.append(writer)
        writer.write(head)
    deadline = started + BODY_TIMEOUT + SLACK
    # Then every one is answered 408 and closed by the server within the body timeout
    answers = await asyncio.gather(*(_until_closed(r, deadline) for r, _ in streams))
    assert [_status(a) for a in answers] == [408] * CONNECTIONS
    assert b'"error": "request_timeout"' in answers[0]
    assert time.monotonic() - started >= BODY_TIMEOUT * 0.9  # the deadline, not an instant refusal


async def test_a_gigabyte_announced_is_refused_at_once(
    server: Server, sockets: list[asyncio.StreamWriter]
) -> None:
    head = b"POST /api/v1/session HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\n"
    streams = [await _connect(server) for _ in range(CONNECTIONS)]
    for _, writer in streams:
        sockets.append(writer)
        writer.write(head)
    deadline = time.monotonic() + SLACK
    answers = await asyncio.gather(*(_until_closed(r, deadline) for r, _ in streams))
    assert [_status(a) for a in answers] == [413] * CONNECTIONS
    assert b'"error": "payload_too_large"' in answers[0]


async def test_a_300_mb_body_is_refused_unread(server: Server) -> None:
    # Given the gateway's memory before
    before = server.rss_kib()
    reader, writer = await _connect(server)
    # When a client streams 300 MB of JSON, chunked (no length to refuse up front)
    writer.write(
        b"POST /api/v1/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"%x\r\n%s\r\n" % (65536, b" " * 65536)
    sent, answer = 0, b""
    read = asyncio.ensure_future(_until_closed(reader, time.monotonic() + 30))
    try:
        while sent < 300 * 2**20 and not read.done():
            writer.write(chunk)
            await writer.drain()
            sent += 65536
    except ConnectionError:
        pass  # the server closed while we were still sending
    answer = await read
    writer.close()
    # Then it was refused after at most a few chunks — 413, or only the close when the reset
    # (our unread bytes in the server's buffer) overtook the answer, as under load — and its
    # memory did not grow. A server that kept reading would fail on ``sent`` or the deadline.
    assert answer == b"" or _status(answer) == 413, answer[:200]
    assert sent < 16 * 2**20, f"{sent} bytes sent before the refusal"
    assert server.rss_kib() - before < 20 * 1024


# -- headers -------------------------------------------------------------------------------------


async def test_half_sent_headers_are_closed_within_the_header_timeout(
    server: Server, sockets: list[asyncio.StreamWriter]
) -> None:
    started = time.monotonic()
    streams = [await _connect(server) for _ in range(CONNECTIONS)]
    for _, writer in streams:
        sockets.append(writer)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: a")  # never finished
    deadline = started + HEADER_TIMEOUT + SLACK
    answers = await asyncio.gather(*(_until_closed(r, deadline) for r, _ in streams))
    assert [_status(a) for a in answers] == [408] * CONNECTIONS
    assert time.monotonic() - started >= HEADER_TIMEOUT * 0.9


async def test_a_connection_that_sends_nothing_is_closed(
    server: Server, sockets: list[asyncio.StreamWriter]
) -> None:
    reader, writer = await _connect(server)
    sockets.append(writer)
    assert await _until_closed(reader, time.monotonic() + HEADER_TIMEOUT + SLACK) == b""


async def test_trickled_headers_do_not_extend_the_deadline(
    server: Server, sockets: list[asyncio.StreamWriter]
) -> None:
    reader, writer = await _connect(server)
    sockets.append(writer)
    started = time.monotonic()
    closed = asyncio.ensure_future(_until_closed(reader, started + HEADER_TIMEOUT + SLACK))
    writer.write(b"GET /healthz HTTP/1.1\r\n")
    while not closed.done() and time.monotonic() - started < HEADER_TIMEOUT + SLACK:
        writer.write(b"X-Drip: 1\r\n")  # a header line every 0.2 s, never the blank line
        await asyncio.wait([closed], timeout=0.2)
    assert _status(await closed) == 408


async def test_a_64_mb_header_is_refused(server: Server) -> None:
    before = server.rss_kib()
    reader, writer = await _connect(server)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
    read = asyncio.ensure_future(_until_closed(reader, time.monotonic() + 30))
    sent = 0
    try:
        while sent < 64 * 2**20 and not read.done():
            writer.write(b"a" * 65536)
            await writer.drain()
            sent += 65536
    except ConnectionError:
        pass
    answer = await read
    writer.close()
    # 431, or only the close when the reset (our unread bytes) overtook the answer
    assert answer == b"" or _status(answer) == 431, answer[:200]
    assert sent < 16 * 2**20, f"{sent} bytes sent before the server stopped reading"
    assert server.rss_kib() - before < 20 * 1024


async def test_too_many_header_fields_are_refused(server: Server) -> None:
    reader, writer = await _connect(server)
    fields = b"".join(b"X-F%d: v\r\n" % i for i in range(MAX_HEADERS + 1))
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n")
    answer = await _until_closed(reader, time.monotonic() + SLACK)
    writer.close()
    assert _status(answer) == 431 and b"headers_too_large" in answer


async def test_headers_over_the_size_in_one_piece_are_refused(server: Server) -> None:
    reader, writer = await _connect(server)
    writer.write(
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * MAX_HEADER_BYTES + b"\r\n\r\n"
    )
    answer = await _until_closed(reader, time.monotonic() + SLACK)
    writer.close()
    assert _status(answer) == 431
