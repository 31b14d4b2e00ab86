"""The errors use cases raise: the domain errors of ``cdds_shared.errors``, each with a stable
``code``; the edge (``cdds_gateway/errors.py``) gives each code its HTTP status, and the web pages
show the message."""

from __future__ import annotations

from pydantic import ValidationError

from cdds_shared.errors import (
    CertificateRequired,
    Gone,
    NotFinished,
    NotFoundError,
    ServiceUnavailable,
    ValidationFailed,
)

__all__ = [
    "MAX_OFFSET",
    "PREFERENCES",
    "certificate_required",
    "gone",
    "invalid",
    "invalid_from",
    "not_finished",
    "not_found",
    "service_unavailable",
]

PREFERENCES = "/preferences"
MAX_OFFSET = 1_000_000
"""Largest ``offset`` of a list (beyond it, narrow the filters)."""
UNAVAILABLE = "the export service is unavailable; nothing was started — try again shortly"


def not_found(kind: str, ident: str) -> NotFoundError:
    """Unknown, or someone else's: the two are indistinguishable to the caller
    (docs/architecture.md, who sees what)."""
    return NotFoundError(f"{kind} {ident} not found")


def certificate_required(detail: str) -> CertificateRequired:
    return CertificateRequired(detail, link=PREFERENCES)


def service_unavailable() -> ServiceUnavailable:
    return ServiceUnavailable(UNAVAILABLE)


def gone(detail: str) -> Gone:
    return Gone(detail)


def not_finished(detail: str) -> NotFinished:
    return NotFinished(detail)


def invalid(detail: str) -> ValidationFailed:
    return ValidationFailed(detail)


def invalid_from(exc: ValidationError) -> ValidationFailed:
    """One line per problem, each prefixed by where it is (``schedule.time: …``)."""
    lines, locations = [], []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {message}" if where else message)
        locations.append(tuple(error["loc"]))
    return ValidationFailed("; ".join(lines), locations=locations)
