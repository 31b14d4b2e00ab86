"""A request id on every request, and the access log (docs/operations.md, "Logs").

Each HTTP request gets an id: the client's ``X-Request-ID`` when it is sane (at most 128 of
``[A-Za-z0-9._-]``), else a new one (uuid4 hex). It is bound into the log context (every line
logged while the request is served carries ``request_id``), set for the audit entries written
meanwhile (``cdds_shared.request_context``), echoed in the response's ``X-Request-ID`` and put
on the request's trace span. When the request ends, one access line is logged (logger
``cdds.gateway.access``): method, path (no query), status, duration, client, request id. The
client is the socket's peer, or the address a trusted proxy forwarded (uvicorn's proxy headers,
``CDDS_GATEWAY__TRUSTED_PROXIES``, are applied before this middleware runs).
"""

from __future__ import annotations

import time

from opentelemetry import trace
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cdds_shared.logging import get_logger
from cdds_shared.request_context import accepted_request_id, serving

__all__ = ["HEADER", "RequestContext"]

HEADER = "x-request-id"
_HEADER_BYTES = HEADER.encode()
access = get_logger("cdds.gateway.access")


def _offered(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == _HEADER_BYTES:
            return bytes(value).decode("latin-1")
    return None


class RequestContext:
    """The ASGI middleware; ``access_log``: log one line per request."""

    def __init__(self, app: ASGIApp, *, access_log: bool = True) -> None:
        self.app, self.access_log = app, access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = accepted_request_id(_offered(scope))
        started = time.perf_counter()
        status = 500  # unless a response starts: an exception escaped the app
        trace.get_current_span().set_attribute("http.request.id", request_id)

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [
                    (k, v) for k, v in message.get("headers", ()) if k.lower() != _HEADER_BYTES
                ]
                message["headers"] = [*headers, (_HEADER_BYTES, request_id.encode())]
            await send(message)

        with serving(request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                if self.access_log:
                    client = scope.get("client")
                    access.info(
                        "request",
                        method=scope["method"],
                        path=scope["path"],
                        status=status,
                        duration_ms=round((time.perf_counter() - started) * 1000, 1),
                        client=client[0] if client else None,
                    )
