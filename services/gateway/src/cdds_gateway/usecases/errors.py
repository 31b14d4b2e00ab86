"""The errors use cases raise: ``ApiError`` with a stable code, so the REST API maps them as they
are and the web pages show their ``detail``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, ValidationError

from cdds_gateway.errors import ApiError

__all__ = [
    "MAX_OFFSET",
    "PREFERENCES",
    "ErrorBody",
    "certificate_required",
    "gone",
    "invalid",
    "invalid_from",
    "not_finished",
    "not_found",
    "responses",
    "service_unavailable",
]

PREFERENCES = "/preferences"
MAX_OFFSET = 1_000_000
"""Largest ``offset`` of a list (beyond it, narrow the filters)."""
UNAVAILABLE = "the export service is unavailable; nothing was started — try again shortly"


def not_found(kind: str, ident: str) -> ApiError:
    """Unknown, or someone else's: the two are indistinguishable to the caller."""
    return ApiError(404, "not_found", f"{kind} {ident} not found")


def certificate_required(detail: str) -> ApiError:
    return ApiError(409, "certificate_required", detail, link=PREFERENCES)


def service_unavailable() -> ApiError:
    return ApiError(503, "service_unavailable", UNAVAILABLE)


def gone(detail: str) -> ApiError:
    return ApiError(410, "gone", detail)


def not_finished(detail: str) -> ApiError:
    return ApiError(409, "not_finished", detail)


def invalid(detail: str) -> ApiError:
    return ApiError(422, "invalid", detail)


def invalid_from(exc: ValidationError) -> ApiError:
    """One line per problem, each prefixed by where it is (``schedule.time: …``)."""
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {message}" if where else message)
    return invalid("; ".join(lines))


class ErrorBody(BaseModel):
    """Every error answer: a stable code and a message for people."""

    error: str = Field(description="stable code: not_found, invalid, certificate_required, …")
    detail: str = Field(description="what happened, for people")
    link: str | None = Field(None, description="where to fix it (certificate_required)")


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` of the error statuses a route may answer."""
    return {status: {"model": ErrorBody, "description": _MEANING[status]} for status in statuses}


_MEANING = {
    400: "bad request",
    401: "not signed in",
    403: "no CDDS access (exporter role), or CSRF token missing",
    404: "unknown, or not the caller's",
    409: "conflict (see error: certificate_required, not_finished)",
    410: "the file expired or was deleted",
    416: "the range starts beyond the end of the file",
    422: "invalid request",
    429: "too many runs of the owner already wait to start (see Retry-After)",
    503: "RabbitMQ or another dependency is unavailable; nothing was started",
}
