"""HTTP errors at the edge: a stable error code and a clear message, ``{"error", "detail"}``.

Domain errors (``cdds_shared.errors``) are mapped here once, not per route (docs/api.md § Errors).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cdds_shared.errors import (
    ConflictError,
    DependencyUnavailable,
    NotFoundError,
    ValidationFailed,
)

__all__ = ["ApiError", "install_error_handlers"]


class ApiError(Exception):
    """An HTTP error with a stable code, e.g. ``ApiError(403, "access_denied", "…")``."""

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
        self.headers = headers  # e.g. Retry-After of a 429


def _body(code: str, detail: str, **extra: object) -> dict[str, object]:
    return {"error": code, "detail": detail, **extra}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            _body(exc.code, exc.detail, **exc.extra), status_code=exc.status, headers=exc.headers
        )

    @app.exception_handler(NotFoundError)
    async def not_found(request: Request, exc: NotFoundError) -> JSONResponse:
        return JSONResponse(_body("not_found", str(exc)), status_code=404)

    @app.exception_handler(ValidationFailed)
    async def invalid(request: Request, exc: ValidationFailed) -> JSONResponse:
        return JSONResponse(_body("invalid", str(exc)), status_code=422)

    @app.exception_handler(ConflictError)
    async def conflict(request: Request, exc: ConflictError) -> JSONResponse:
        return JSONResponse(_body("conflict", str(exc)), status_code=409)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthenticated"}
        code = codes.get(exc.status_code, "http_error")
        return JSONResponse(
            _body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = str(first.get("msg", "invalid request"))
        detail = f"{where}: {message}" if where else message
        return JSONResponse(_body("invalid", detail, errors=len(exc.errors())), status_code=422)

    @app.exception_handler(DependencyUnavailable)
    async def unavailable(request: Request, exc: DependencyUnavailable) -> JSONResponse:
        return JSONResponse(
            _body("service_unavailable", "a service CDDS depends on is unavailable; try again"),
            status_code=503,
        )
