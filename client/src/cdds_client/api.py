"""The gateway's REST API over HTTP (docs/api.md), and its errors as one line each.

Every answer that is not 2xx becomes an :class:`ApiFailure` whose message is the gateway's
``detail`` plus what to do about it; a gateway that cannot be reached names the URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from typing import Any

import httpx

from cdds_client.credentials import Credentials
from cdds_client.errors import SIGN_IN, Failure

__all__ = ["Api", "ApiFailure", "Unreachable", "failure_of"]

PREFIX = "/api/v1"
TIMEOUT = httpx.Timeout(60.0, connect=15.0)
NOT_SIGNED_IN = "not signed in (the session has ended or the token is wrong)"


class ApiFailure(Failure):
    """A refusal of the gateway: ``status`` and the stable ``code`` of its ``Error`` body."""

    def __init__(self, message: str, status: int, code: str | None) -> None:
        super().__init__(message)
        self.http_status = status
        self.code = code


class Unreachable(Failure):
    """No answer at all: the gateway is down, the URL is wrong, or the network failed."""


def failure_of(response: httpx.Response, what: str | None = None) -> ApiFailure:
    """The one-line failure for an error answer; ``what`` names the thing for a 404."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    code = body.get("error")
    detail = str(body.get("detail") or response.reason_phrase or "error")
    status = response.status_code
    if status == 401 and code in (None, "unauthenticated"):
        return ApiFailure(f"{NOT_SIGNED_IN}: {SIGN_IN}", status, code)
    if status == 404 and what and code in (None, "not_found"):
        return ApiFailure(f"{what} not found", status, code)
    if status == 403 and code == "access_denied":
        return ApiFailure(f"access denied: {detail}", status, code)
    if status == 429 and (retry := response.headers.get("Retry-After")):
        return ApiFailure(f"{detail}: try again in {retry} s", status, code)
    if link := body.get("link"):
        base = str(response.request.url.copy_with(path="/", query=None, fragment=None))
        return ApiFailure(f"{detail} (fix it at {base.rstrip('/')}{link})", status, code)
    if status >= 500:
        return ApiFailure(f"{detail} (HTTP {status}): try again later", status, code)
    return ApiFailure(f"{detail} (HTTP {status} {code or ''})".replace(" )", ")"), status, code)


class Api:
    """A session with one gateway; the bearer token is sent on every request."""

    def __init__(
        self, url: str, token: str | None = None, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.url = url.rstrip("/")
        headers = {"User-Agent": f"cdds/{version('cdds-client')}"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        # Redirects are followed for downloads served from presigned URLs; httpx drops the
        # Authorization header when a redirect leaves the gateway's origin.
        self._http = httpx.Client(
            base_url=self.url,
            headers=headers,
            timeout=TIMEOUT,
            follow_redirects=True,
            transport=transport,  # tests: an in-memory gateway
        )

    @classmethod
    def of(cls, credentials: Credentials) -> Api:
        return cls(credentials.url, credentials.token)

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *_: object) -> None:
        self._http.close()

    def request(
        self, method: str, path: str, *, what: str | None = None, **options: Any
    ) -> httpx.Response:
        """One request to ``/api/v1<path>``; raises :class:`ApiFailure` unless it is 2xx."""
        try:
            response = self._http.request(method, PREFIX + path, **options)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None
        if response.is_error:
            raise failure_of(response, what)
        return response

    def json(self, method: str, path: str, *, what: str | None = None, **options: Any) -> Any:
        return self.request(method, path, what=what, **options).json()

    @contextmanager
    def stream(
        self, path: str, *, headers: dict[str, str], what: str | None = None
    ) -> Iterator[httpx.Response]:
        """A streamed GET; the body is read by the caller (error answers are read here)."""
        try:
            with self._http.stream("GET", PREFIX + path, headers=headers) as response:
                if response.is_error:
                    response.read()
                    raise failure_of(response, what)
                yield response
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None

    def _unreachable(self, exc: httpx.TransportError) -> Unreachable:
        reason = str(exc) or type(exc).__name__
        return Unreachable(f"cannot reach the gateway at {self.url} ({reason}): check the URL")
