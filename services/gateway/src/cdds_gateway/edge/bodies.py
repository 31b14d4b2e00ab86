"""Request bodies bounded while they stream in: a size limit per route and a deadline.

A pure ASGI middleware (Starlette's ``BaseHTTPMiddleware`` would buffer). It answers

- 413 ``payload_too_large`` before the application runs when ``Content-Length`` exceeds the
  route's limit, or as soon as the bytes received do (chunked bodies have no length);
- 408 ``request_timeout`` when the body has not fully arrived ``timeout`` seconds after the
  application first asked for it (a ``Content-Length`` announced and never sent).

Both answers carry ``Connection: close``, so uvicorn drops the connection instead of reading the
rest. The application then sees ``http.disconnect`` and whatever it sends is discarded. Once the
body is complete, ``receive`` is passed through untouched (streaming responses wait on it for
the client's disconnect, for as long as a download lasts).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimits", "BodyRule"]

DISCONNECT: Message = {"type": "http.disconnect"}


@dataclass(frozen=True)
class BodyRule:
    """Requests of ``method`` whose path matches ``path`` (a full match) may send ``limit``
    bytes of body."""

    method: str
    path: str
    limit: int

    def matches(self, method: str, path: str) -> bool:
        return method == self.method and re.fullmatch(self.path, path) is not None


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


async def refuse(send: Send, status: int, code: str, detail: str) -> None:
    """Answer in the gateway's error format (``{"error", "detail"}``) and close the connection."""
    body = json.dumps({"error": code, "detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodyLimits:
    """The ASGI middleware; ``rules`` are tried in order, ``default`` applies otherwise."""

    def __init__(
        self, app: ASGIApp, *, default: int, rules: Sequence[BodyRule], timeout: float
    ) -> None:
        self.app, self.default, self.rules, self.timeout = app, default, tuple(rules), timeout

    def limit_for(self, method: str, path: str) -> int:
        return next((r.limit for r in self.rules if r.matches(method, path)), self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["method"], scope["path"])
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await refuse(send, 413, "payload_too_large", _too_large(limit, declared))
            return
        await _Guard(self.app, limit, self.timeout, receive, send).run(scope)


def _too_large(limit: int, declared: int | None = None) -> str:
    said = f" ({declared} declared)" if declared is not None else ""
    return f"the request body is larger than this route's limit of {limit} bytes{said}"


class _Guard:
    """One request: counts the body's bytes and keeps its deadline."""

    def __init__(self, app: ASGIApp, limit: int, timeout: float, receive: Receive, send: Send):
        self.app, self.limit, self.timeout = app, limit, timeout
        self._receive, self._send = receive, send
        self.received = 0
        self.complete = False
        self.deadline: float | None = None
        self.started = False  # a response has started (the application's or ours)
        self.refused = False

    async def run(self, scope: Scope) -> None:
        try:
            await self.app(scope, self.receive, self.send)
        except Exception:
            if not self.refused:
                raise
            # The application failed on the disconnect we gave it: the client already has
            # its answer, there is nothing to report.

    async def receive(self) -> Message:
        if self.refused:
            return DISCONNECT
        if self.complete:
            return await self._receive()
        loop = asyncio.get_running_loop()
        if self.deadline is None:
            self.deadline = loop.time() + self.timeout
        try:
            async with asyncio.timeout_at(self.deadline):
                message = await self._receive()
        except TimeoutError:
            detail = f"the request body did not arrive within {self.timeout:g} s"
            await self._refuse(408, "request_timeout", detail)
            return DISCONNECT
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                await self._refuse(413, "payload_too_large", _too_large(self.limit))
                return DISCONNECT
            self.complete = not message.get("more_body", False)
        return message

    async def send(self, message: Message) -> None:
        if self.refused:
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)

    async def _refuse(self, status: int, code: str, detail: str) -> None:
        self.refused = True
        if not self.started:
            self.started = True
            await refuse(self._send, status, code, detail)
