"""The id of the HTTP request being served (docs/operations.md, "Logs").

The gateway's edge sets it for each request (``X-Request-ID`` when it is sane, else a new one)
and binds it into the log context; ``AuditEvent`` reads it here, so every audit entry written
while a request is served carries it, whichever use case builds the entry.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import structlog

__all__ = ["MAX_REQUEST_ID", "accepted_request_id", "current_request_id", "serving"]

MAX_REQUEST_ID = 128
_SANE = re.compile(rf"[A-Za-z0-9._-]{{1,{MAX_REQUEST_ID}}}")
_CURRENT: ContextVar[str | None] = ContextVar("cdds_request_id", default=None)


def accepted_request_id(offered: str | None) -> str:
    """``offered`` if it is at most 128 of ``[A-Za-z0-9._-]``, else a new id (uuid4 hex): a
    client's id may reach the logs and the audit log, so nothing else is taken from it."""
    if offered is not None and _SANE.fullmatch(offered):
        return offered
    return uuid.uuid4().hex


@contextmanager
def serving(request_id: str) -> Iterator[None]:
    """While the block runs: ``request_id`` on every log line and every audit entry."""
    token = _CURRENT.set(request_id)
    try:
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            yield
    finally:
        _CURRENT.reset(token)


def current_request_id() -> str | None:
    """The id of the request being served in this context, or None (a worker, the scheduler)."""
    return _CURRENT.get()
