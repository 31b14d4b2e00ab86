"""Sign-in in two steps (the name, then the password), Access Denied, and sign-out
(docs/web.md). The refusals are the REST API's: the same statuses and messages, from the edge's
one table (``cdds_gateway/errors.py``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cdds_gateway.deps import Deps, GatewayDeps
from cdds_gateway.errors import error_headers, public_detail, status_of
from cdds_gateway.security import (
    check_same_origin,
    clear_session_cookie,
    client_address,
    principal_or_none,
    set_session_cookie,
    sign_in_attempt,
)
from cdds_gateway.usecases import session
from cdds_gateway.web.access import CHOOSE_PAGE
from cdds_gateway.web.forms import Text, csrf, ticked
from cdds_gateway.web.render import page, redirect, sentence
from cdds_shared.errors import CddsError
from cdds_shared.identity import AccessDenied, TenantRequired
from cdds_shared.identity.errors import SIGN_IN_REFUSALS, TENANT_REQUIRED

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
AMBIGUOUS = sentence(TENANT_REQUIRED)


@router.get("/")
async def home(request: Request) -> Response:
    principal = await principal_or_none(request)
    return redirect("/jobs" if principal else "/login")


@router.get("/login")
async def login_page(request: Request) -> Response:
    return page(request, "login.html", None, step="username")


@router.post("/login")
async def login(
    request: Request,
    deps: Deps,
    username: Text,
    step: Text = "username",
    tenant: Text = "",
    remember_me: Text = "",
    password: Text = "",
) -> Response:
    check_same_origin(request, deps.settings)  # both steps: no session, so no CSRF token yet
    ctx: dict[str, Any] = {
        "username": username.strip(),
        "tenant": tenant.strip() or None,
        "remember_me": ticked(remember_me),
    }
    if step != "password":
        return await _password_step(request, deps, ctx)
    return await _signed_in(request, deps, ctx, password)


async def _password_step(request: Request, deps: GatewayDeps, ctx: dict[str, Any]) -> Response:
    """After the name: the password step, or the name again with a tenant field when the name
    exists in several tenants and none was given."""
    if await session.needs_tenant(deps, ctx["username"], ctx["tenant"]):
        return page(
            request,
            "login.html",
            None,
            step="username",
            tenant_required=True,
            error=AMBIGUOUS,
            **ctx,
        )
    return page(request, "login.html", None, step="password", **ctx)


async def _signed_in(
    request: Request, deps: GatewayDeps, ctx: dict[str, Any], password: str
) -> Response:
    """Sign in: to Jobs with the session cookie (persistent with Remember me) — first to
    *Choose a new password* after a one-time one —, or refused."""
    remember = ctx["remember_me"]
    attempt = sign_in_attempt(request, ctx["username"], password, ctx["tenant"], remember)
    try:
        token, signed = await session.start_session(deps, attempt)
    except SIGN_IN_REFUSALS as exc:
        return _refused_sign_in(request, exc, ctx)
    response = redirect(CHOOSE_PAGE if signed.user.must_change_password else "/jobs")
    lifetime = session.cookie_lifetime(deps, remember)
    set_session_cookie(response, request, deps.settings, token, lifetime=lifetime)
    return response


def _refused_sign_in(request: Request, exc: CddsError, ctx: dict[str, Any]) -> Response:
    """The sign-in page again with the reason (the status and message the REST API gives), or
    Access Denied."""
    status = status_of(exc)
    if isinstance(exc, AccessDenied):
        return page(
            request, "access_denied.html", None, username=ctx["username"], status_code=status
        )
    ambiguous = isinstance(exc, TenantRequired)
    refused = page(
        request,
        "login.html",
        None,
        step="username" if ambiguous else "password",
        tenant_required=ambiguous,
        error=sentence(public_detail(exc)),
        status_code=status,
        **ctx,
    )
    refused.headers.update(error_headers(exc) or {})
    return refused


@router.get("/access-denied")
async def access_denied(request: Request) -> Response:
    principal = await principal_or_none(request)
    name = principal.username if principal else None
    return page(request, "access_denied.html", None, username=name, status_code=403)


@router.post("/logout")
async def logout(request: Request, deps: Deps, csrf_token: Text = "") -> Response:
    principal = await principal_or_none(request)
    response = redirect("/login")
    if principal is not None:
        csrf(request, principal, csrf_token)
        await session.end_session(deps, principal, client=client_address(request))
    clear_session_cookie(response, request, deps.settings)
    return response
