"""HTTP errors at the edge: a stable error code and a clear message, ``{"error", "detail"}``
(the OpenAPI document's one ``Error`` schema, for every 4xx and 5xx of every operation).

The use cases raise the domain errors of ``cdds_shared.errors`` (and the sign-in's, in
``cdds_shared.identity.errors``); ``STATUS`` below is the one table that gives each error
``code`` its HTTP status, for the REST API and the web pages alike. ``ApiError`` is for what only
the edge knows (not signed in, CSRF, another origin).
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from cdds_gateway.edge.methods import allowed_methods
from cdds_shared.errors import CddsError, DependencyUnavailable, PermanentError, TransientError
from cdds_shared.runs.model import utcnow

__all__ = [
    "STATUS",
    "ApiError",
    "Error",
    "codes_of",
    "error_headers",
    "error_response",
    "install_error_handlers",
    "public_detail",
    "responses",
    "status_of",
]

STATUS: dict[str, int] = {
    # requests
    "invalid": 422,
    "invalid_certificate": 422,
    "too_large": 413,
    "not_found": 404,
    "no_certificate": 404,
    "gone": 410,
    "conflict": 409,
    "not_finished": 409,
    "certificate_required": 409,
    "too_many_runs": 429,
    "service_unavailable": 503,
    "dependency_unavailable": 503,
    # sign-in (cdds_shared.identity.errors)
    "invalid_credentials": 401,
    "tenant_required": 409,
    "access_denied": 403,
    "locked": 429,
    "throttled": 429,
}
"""Every domain error code the gateway answers, and its status. A code not listed: 503 for a
``TransientError``, 400 for another ``PermanentError``, 500 otherwise."""

UNAVAILABLE = "a service CDDS depends on is unavailable; try again"


class ApiError(Exception):
    """An error only the HTTP edge knows, e.g. ``ApiError(401, "unauthenticated", "…")``."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str = "",
        *,
        headers: dict[str, str] | None = None,
        **extra: object,
    ) -> None:
        super().__init__(detail or code)
        self.status, self.code, self.detail, self.extra = status, code, detail, extra
        self.headers = headers


def status_of(exc: CddsError) -> int:
    if exc.code in STATUS:
        return STATUS[exc.code]
    if isinstance(exc, TransientError):
        return 503
    return 400 if isinstance(exc, PermanentError) else 500


def public_detail(exc: CddsError) -> str:
    """What the caller is told: the error's message, except for a dependency down (its message
    names settings and servers: for the logs, not for the caller)."""
    return UNAVAILABLE if isinstance(exc, DependencyUnavailable) else str(exc)


def error_headers(exc: CddsError) -> dict[str, str] | None:
    """``Retry-After`` (whole seconds, at least 1) when the error says when to try again."""
    if exc.retry_at is None:
        return None
    return {"Retry-After": str(max(1, math.ceil((exc.retry_at - utcnow()).total_seconds())))}


class Error(BaseModel):
    """Every error answer: a stable code and a message for people."""

    error: str = Field(description="stable code: not_found, invalid, certificate_required, …")
    detail: str = Field(description="what happened, for people")
    link: str | None = Field(None, description="where to fix it (certificate_required)")
    errors: int | None = Field(
        None, ge=1, description="invalid requests: how many problems (detail names the first)"
    )


EDGE_CODES: dict[int, tuple[str, ...]] = {
    400: ("http_error",),
    401: ("unauthenticated",),
    403: ("access_denied", "csrf", "cross_origin", "password_change_required"),
    404: ("not_found",),
    413: ("payload_too_large",),
    416: ("range_not_satisfiable",),
    422: ("invalid",),
}
"""The codes only the edge sends (``ApiError``, the body limits, the framework), by status."""

_MEANING = {
    400: "the body cannot be read (not JSON text)",
    401: "not signed in, or wrong credentials",
    403: "no CDDS access (exporter role), admins only, CSRF token missing, another origin, "
    "or a one-time password to change first",
    404: "unknown, or not the caller's",
    409: "conflict",
    410: "the file expired or was deleted",
    413: "larger than the limit",
    416: "the range starts beyond the end of the file",
    422: "invalid request (detail names the first problem, errors counts them)",
    429: "too many runs already wait to start, or too many sign-ins (see Retry-After)",
    503: "RabbitMQ or another dependency is unavailable; nothing was started",
}


def codes_of(status: int) -> list[str]:
    """The error codes an answer of ``status`` may carry: ``STATUS``'s and the edge's own."""
    return sorted({c for c, s in STATUS.items() if s == status} | set(EDGE_CODES.get(status, ())))


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` of the error statuses a route may answer, each an ``Error``."""
    return {status: error_response(status) for status in statuses}


def error_response(status: int) -> dict[str, Any]:
    meaning = f"{_MEANING[status]} (error: {', '.join(codes_of(status))})"
    return {"model": Error, "description": meaning}


def _body(code: str, detail: str, **extra: object) -> dict[str, object]:
    return {"error": code, "detail": detail, **extra}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            _body(exc.code, exc.detail, **exc.extra), status_code=exc.status, headers=exc.headers
        )

    @app.exception_handler(CddsError)
    async def domain_error(request: Request, exc: CddsError) -> JSONResponse:
        extra = {"link": exc.link} if exc.link else {}
        return JSONResponse(
            _body(exc.code, public_detail(exc), **extra),
            status_code=status_of(exc),
            headers=error_headers(exc),
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthenticated"}
        code = codes.get(exc.status_code, "http_error")
        headers = exc.headers
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
        return JSONResponse(
            _body(code, str(exc.detail)), status_code=exc.status_code, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = str(first.get("msg", "invalid request"))
        detail = f"{where}: {message}" if where else message
        return JSONResponse(_body("invalid", detail, errors=len(exc.errors())), status_code=422)
