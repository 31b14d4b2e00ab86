"""uvicorn's httptools protocol with the limits it lacks: header size, header count, header time.

uvicorn bounds neither the headers httptools reads (only its h11 protocol has a size knob) nor
the time a client takes to send them, so a slowloris client or one 64 MB header holds a
connection and its memory. This subclass (the ``http`` class :mod:`cdds_gateway.serve` gives
uvicorn) adds, per request:

- **size**: more than ``max_header_bytes`` of request line and headers → 431 and close. Counted
  on the raw bytes while the header block is incomplete (httptools buffers a field until it
  ends), and on the parsed fields once it is complete;
- **count**: more than ``max_headers`` fields → 431 and close;
- **time**: the request line and headers must arrive within ``header_timeout`` seconds of the
  connection opening (or, on a keep-alive connection, of the next request's first byte) → 408
  and close (silently when not a byte came).

It relies on ``HttpToolsProtocol``'s parser callbacks and repeats its ``data_received``
(uvicorn is pinned by ``uv.lock``; ``tests/gateway/test_edge.py`` runs it in a real server).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, ClassVar

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

__all__ = ["HeaderLimits", "guarded_protocol"]


@dataclass(frozen=True)
class HeaderLimits:
    max_header_bytes: int
    max_headers: int
    header_timeout: float


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a refused request."""


def _answer(status: int, code: str, detail: str) -> bytes:
    body = json.dumps({"error": code, "detail": detail}).encode()
    head = (
        b"content-type: application/json\r\n"
        + b"content-length: "
        + str(len(body)).encode()
        + b"\r\nconnection: close\r\n\r\n"
    )
    return STATUS_LINE[status] + head + body


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    limits: ClassVar[HeaderLimits]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_headers = False
        self._message_open = False  # a byte of the current request arrived
        self._raw_bytes = 0  # of the incomplete header block
        self._parsed_bytes = 0  # of the request line and the fields parsed so far
        self._fields = 0
        self._headers_done = 0  # header blocks completed on this connection
        self._header_timer: asyncio.TimerHandle | None = None
        self._refusal: bytes | None = None

    # -- the header phase ------------------------------------------------------------------

    def _start_headers(self) -> None:
        self._in_headers = True
        self._raw_bytes = self._parsed_bytes = self._fields = 0
        self._cancel_timer()
        self._header_timer = self.loop.call_later(self.limits.header_timeout, self._too_slow)

    def _cancel_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _too_slow(self) -> None:
        self._header_timer = None
        if not self._in_headers or self.transport.is_closing():
            return
        if self._message_open:
            detail = f"the request headers did not arrive within {self.limits.header_timeout:g} s"
            self._refuse(_answer(408, "request_timeout", detail))
        else:
            self.transport.close()

    def _refuse(self, answer: bytes) -> None:
        self._refusal = answer
        self._cancel_timer()
        if not self.transport.is_closing():
            self.transport.write(answer)
            self.transport.close()

    def _too_large(self) -> bytes:
        detail = (
            f"the request line and headers exceed {self.limits.max_header_bytes} bytes "
            f"or {self.limits.max_headers} fields"
        )
        return _answer(431, "headers_too_large", detail)

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refusal is not None:
            return
        done_before = self._headers_done
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self._refusal is not None:  # parsing stopped by our own refusal
                self._refuse(self._refusal)
                return
            self.logger.warning("Invalid HTTP request received.")
            self.send_400_response("Invalid HTTP request received.")
            return
        except httptools.HttpParserUpgrade:  # as uvicorn does (the gateway has no websockets)
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        if self.transport.is_closing():
            return
        # Still inside the same header block: every byte of this chunk belongs to it.
        if self._in_headers and self._message_open and done_before == self._headers_done:
            self._raw_bytes += len(data)
            if self._raw_bytes > self.limits.max_header_bytes:
                self._refuse(self._too_large())

    # -- parser callbacks ------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._in_headers:
            self._start_headers()
        self._message_open = True

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._fields += 1
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def _count(self, size: int) -> None:
        self._parsed_bytes += size
        if self._fields > self.limits.max_headers or (
            self._parsed_bytes > self.limits.max_header_bytes
        ):
            self._refusal = self._too_large()
            raise _Refused

    def on_headers_complete(self) -> None:
        self._in_headers = self._message_open = False
        self._headers_done += 1
        self._cancel_timer()
        super().on_headers_complete()


def guarded_protocol(limits: HeaderLimits) -> type[GuardedHttpToolsProtocol]:
    """The protocol class to give uvicorn (``Config(http=...)``), bound to ``limits``."""
    return type("GuardedHttp", (GuardedHttpToolsProtocol,), {"limits": limits})
