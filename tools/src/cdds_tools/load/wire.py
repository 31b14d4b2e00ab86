"""A lean HTTP/1.1 ``GET`` client for the load: one keep-alive connection per simulated client,
as a browser tab or a polling script holds.

The load shares this machine's two cores with the gateway and its database. With ``httpx`` the
50 clients alone took most of a core at about 120 requests/s, and the time a response waited for
the client's own event loop was counted as the gateway's latency. This client only writes the
request line and reads the status, the headers and exactly the body (``Content-Length`` or
chunked), so nearly all of the measured time is the server's.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit

__all__ = ["Connection", "WireError"]

MAX_HEAD = 64 * 1024


class WireError(Exception):
    """No complete answer: refused, closed, malformed or too slow."""


class Connection:
    """``GET`` on one keep-alive connection to ``base_url``, reopened when the server closed it.
    Not for concurrent use: each simulated client has its own."""

    def __init__(self, base_url: str, headers: dict[str, str], timeout: float) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"load: plain http://host:port only, not {base_url!r}")
        self._host = parts.hostname
        self._port = parts.port or 80
        self._timeout = timeout
        extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self._head = f"Host: {parts.netloc}\r\n{extra}Accept: application/json\r\n\r\n"
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def get(self, path: str) -> int:
        """The status of ``GET path``, its body read in full (and dropped)."""
        try:
            async with asyncio.timeout(self._timeout):
                return await self._exchange(path)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError) as e:
            await self.close()
            raise WireError(f"GET {path}: {type(e).__name__}: {e}") from e
        except WireError:
            await self.close()
            raise

    async def _exchange(self, path: str) -> int:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self._host, self._port, limit=MAX_HEAD)
        reader, writer = self._streams
        writer.write(f"GET {path} HTTP/1.1\r\n{self._head}".encode("latin-1"))
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        try:
            status = int(status_line.split(" ", 2)[1])
        except (IndexError, ValueError) as e:
            raise WireError(f"GET {path}: not an HTTP answer: {status_line[:80]!r}") from e
        fields = {}
        for line in lines:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        if fields.get("transfer-encoding", "").lower() == "chunked":
            await self._chunked(reader)
        else:
            await reader.readexactly(int(fields.get("content-length", "0")))
        if fields.get("connection", "").lower() == "close":
            await self.close()
        return status

    @staticmethod
    async def _chunked(reader: asyncio.StreamReader) -> None:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)  # the chunk and its CRLF
            if size == 0:
                return

    async def close(self) -> None:
        if self._streams is not None:
            writer = self._streams[1]
            self._streams = None
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
