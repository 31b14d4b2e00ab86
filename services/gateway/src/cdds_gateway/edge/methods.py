"""The ``Allow`` header of a 405: every method of every route of the path (RFC 9110 §15.5.6).

Starlette's router answers 405 with the methods of the first route that matched the path only,
so ``/api/v1/jobs/{job_id}`` (GET, PATCH and DELETE are three routes) would advertise GET alone.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Match, Route

__all__ = ["allowed_methods"]


def allowed_methods(request: Request) -> list[str]:
    """The methods the application serves at the request's path, sorted (``HEAD`` with ``GET``)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.methods:
            match, _ = route.matches({**request.scope, "method": "GET"})
            # A route of another method matches PARTIAL, one of GET matches FULL: both serve it.
            if match is not Match.NONE:
                methods |= route.methods
    return sorted(methods)
