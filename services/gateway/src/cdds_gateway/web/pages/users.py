"""Administration → Users (docs/web.md § Users), for a tenant's administrators: the tenant's
users and integrations; add a user, grant and revoke roles, disable and enable, unlock, reset a
password — the REST API's use cases (``usecases/users.py``), with its rules and audit.

A one-time password (a new user's, a reset's) is shown on the page that answers the form, once:
never put in a redirect's flash cookie, and that page is not cached (``no-store``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from cdds_gateway.deps import Deps, GatewayDeps
from cdds_gateway.errors import ApiError, public_detail
from cdds_gateway.principal import Principal
from cdds_gateway.security import client_address
from cdds_gateway.usecases import users as user_cases
from cdds_gateway.usecases.errors import invalid_from
from cdds_gateway.usecases.user_views import NewUser, OneTimePassword, UserView
from cdds_gateway.web.access import admin, back_with
from cdds_gateway.web.formatting import when
from cdds_gateway.web.forms import Text, csrf, read_form
from cdds_gateway.web.render import page, redirect, sentence
from cdds_shared.errors import CddsError

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
USERS = "/users"


def _actions(user: UserView) -> list[tuple[str, str]]:
    """The row's buttons: ``(action, text)``; none for an integration (read-only)."""
    if user.kind == "integration":
        return []
    found = []
    for role, label in (("exporter", "exporter"), ("admin", "admin")):
        has = role in user.roles
        found.append(
            (f"{'revoke' if has else 'grant'}-{role}", f"{'Revoke' if has else 'Grant'} {label}")
        )
    found.append(("enable", "Enable") if user.disabled else ("disable", "Disable"))
    if user.locked:
        found.append(("unlock", "Unlock"))
    return [*found, ("password", "Reset password")]


def _row(user: UserView) -> dict[str, Any]:
    return {
        **user.model_dump(),
        "actions": _actions(user),
        "locked_until_text": when(user.locked_until),
        "last_login_text": when(user.last_login_at) if user.last_login_at else "never",
    }


async def _users_page(
    request: Request, deps: GatewayDeps, principal: Principal, **context: Any
) -> Response:
    """The page; ``issued`` in ``context``: a one-time password shown this once (not cached)."""
    rows = [_row(u) for u in await user_cases.list_users(deps, principal)]
    response = page(request, "users.html", principal, users=rows, **context)
    response.headers["Cache-Control"] = "no-store"
    return response


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        exc = invalid_from(exc)
    return sentence(public_detail(exc) if isinstance(exc, CddsError) else str(exc))


def _issued(result: OneTimePassword, kind: str) -> dict[str, str]:
    return {"kind": kind, "username": result.user.username, "password": result.one_time_password}


@router.get(USERS)
async def users_page(request: Request, deps: Deps) -> Response:
    principal = await admin(request)
    return await _users_page(request, deps, principal)


@router.post(USERS)
async def add_user(request: Request, deps: Deps) -> Response:
    principal = await admin(request)
    form = await read_form(request, lists=("roles",))
    csrf(request, principal, form.get("csrf_token"))
    try:
        new = NewUser.model_validate({"username": form.get("username", ""), "roles": form["roles"]})
        added = await user_cases.add_user(deps, principal, new, client=client_address(request))
    except (CddsError, ValidationError) as exc:
        return await _users_page(request, deps, principal, error=_reason(exc), form=form,
                                 status_code=422)  # fmt: skip
    return await _users_page(request, deps, principal, issued=_issued(added, "created"))


@router.post(USERS + "/{user_id}/password")
async def reset_password(
    request: Request, deps: Deps, user_id: str, csrf_token: Text = ""
) -> Response:
    principal = await admin(request)
    csrf(request, principal, csrf_token)
    client = client_address(request)
    try:
        reset = await user_cases.reset_password(deps, principal, user_id, client=client)
    except CddsError as exc:
        return back_with(exc, USERS)
    return await _users_page(request, deps, principal, issued=_issued(reset, "reset"))


UserAction = Callable[[GatewayDeps, Principal, str, str | None], Awaitable[UserView]]


def _role(role: Any, granted: bool) -> UserAction:
    return lambda deps, p, user_id, client: user_cases.set_role(
        deps, p, user_id, role, granted, client=client
    )


def _disabled(disabled: bool) -> UserAction:
    return lambda deps, p, user_id, client: user_cases.set_disabled(
        deps, p, user_id, disabled, client=client
    )


USER_ACTIONS: dict[str, tuple[UserAction, str]] = {
    "grant-exporter": (_role("exporter", True), "{} can now use CDDS."),
    "revoke-exporter": (_role("exporter", False), "{} can no longer use CDDS."),
    "grant-admin": (_role("admin", True), "{} is now an administrator."),
    "revoke-admin": (_role("admin", False), "{} is no longer an administrator."),
    "disable": (_disabled(True), "{} is disabled: their sessions ended."),
    "enable": (_disabled(False), "{} is enabled again."),
    "unlock": (
        lambda deps, p, user_id, client: user_cases.unlock_user(deps, p, user_id, client=client),
        "{} is unlocked.",
    ),
}
"""The row buttons: what each does, and what the page says when it is done."""


@router.post(USERS + "/{user_id}/{action}")
async def user_action(
    request: Request, deps: Deps, user_id: str, action: str, csrf_token: Text = ""
) -> Response:
    principal = await admin(request)
    csrf(request, principal, csrf_token)
    if action not in USER_ACTIONS:
        raise ApiError(404, "not_found", f"no action {action}")
    act, done = USER_ACTIONS[action]
    try:
        user = await act(deps, principal, user_id, client_address(request))
    except CddsError as exc:
        return back_with(exc, USERS)
    return redirect(USERS, flash=("ok", done.format(user.username)))
