"""The web pages users of the original service know (docs/web.md), one module each: sign-in,
Access Denied and sign-out (``login``), *Choose a new password* (``password``), User
preferences, Jobs, History, Artifacts, and Administration → Users (``users``, admins only).
Server-rendered; every form post carries the CSRF token; every action goes through the same use
cases as the REST API. Form parsing lives in ``web/forms.py``, what the pages show as text in
``web/formatting.py``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cdds_gateway.web.access import Redirect
from cdds_gateway.web.pages import artifacts, history, jobs, login, password, preferences, users

__all__ = ["install", "router"]

router = APIRouter(include_in_schema=False)
for _page in (login, password, preferences, jobs, history, artifacts, users):
    router.include_router(_page.router)


def install(app: Any) -> None:
    """Turn the pages' redirects into responses (sign-in / Access Denied)."""

    async def redirected(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Redirect)
        return exc.response

    app.add_exception_handler(Redirect, redirected)
