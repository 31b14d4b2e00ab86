"""Who is calling, and may they: session cookie or bearer token, CSRF, roles (docs/api.md).

- The session cookie ``cdds_session`` is ``HttpOnly; SameSite=Lax; Path=/``, ``Secure`` when the
  request came over HTTPS or the gateway's public URL is ``https``, and persistent (``Max-Age``)
  only with *Remember me*.
- ``Authorization: Bearer <token>`` (the same token) works on every endpoint, for the CLI and
  integrations. A request that carries it is judged by it alone. An integration's token
  (``cdds_int_…``, docs/operations.md "Integrations") names its principal, until it is revoked.
- CSRF: a cookie-authenticated unsafe request (POST, PUT, PATCH, DELETE) must carry the session's
  token in ``X-CSRF-Token`` (API) or in the form field ``csrf_token`` (web forms, which call
  :func:`check_csrf` themselves). Bearer requests are exempt: browsers never add that header.

- Sign-in has no session yet, so no CSRF token: :func:`check_same_origin` refuses (403
  ``cross_origin``) a sign-in whose ``Origin`` (or, without it, ``Referer``) names another site
  (login CSRF: signing a victim's browser into the attacker's account). Requests without either
  header (the CLI, integrations) pass; every browser sends ``Origin`` on a cross-site POST.

Routes declare what they need with the ``Annotated`` aliases :data:`CurrentPrincipal`,
:data:`ExporterPrincipal` and :data:`AdminPrincipal`; pages use :func:`principal_or_none`.
A user signed in with a one-time password (set by an administrator) gets 403
``password_change_required`` from all of them until ``POST /api/v1/me/password``; the few routes
such a user may call (that one, ``GET /api/v1/me``, sign-out) take :data:`SignedInPrincipal`.
"""

from __future__ import annotations

import hmac
import math
from datetime import datetime, timedelta
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request, Response
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from cdds_gateway.deps import GatewayDeps, get_deps
from cdds_gateway.errors import ApiError
from cdds_gateway.principal import Principal
from cdds_shared.identity import SignedIn, SignInAttempt
from cdds_shared.identity.errors import ACCESS_DENIED
from cdds_shared.identity.integrations import TOKEN_PREFIX
from cdds_shared.runs.model import utcnow
from cdds_shared.settings import Settings

__all__ = [
    "ACCESS_DENIED",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "AdminPrincipal",
    "CurrentPrincipal",
    "ExporterPrincipal",
    "SignedInPrincipal",
    "admin_principal",
    "check_csrf",
    "check_same_origin",
    "clear_session_cookie",
    "client_address",
    "cookie_is_secure",
    "current_principal",
    "exporter_principal",
    "password_changed_principal",
    "presented_token",
    "principal_or_none",
    "retry_after",
    "set_session_cookie",
    "sign_in_attempt",
    "signed_in_or_none",
]

SESSION_COOKIE = "cdds_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def presented_token(request: Request) -> tuple[str, bool] | None:
    """``(token, via_cookie)`` of the request: the bearer token if there is an Authorization
    header (even a malformed one: it is then ``""``), else the session cookie."""
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, token = authorization.strip().partition(" ")
        return (token.strip() if scheme.lower() == "bearer" else ""), False
    cookie = request.cookies.get(SESSION_COOKIE)
    return (cookie, True) if cookie else None


async def signed_in_or_none(request: Request) -> tuple[SignedIn, bool] | None:
    """The live session of the request and whether it came by cookie (cached per request)."""
    if hasattr(request.state, "cdds_signed_in"):
        cached: tuple[SignedIn, bool] | None = request.state.cdds_signed_in
        return cached
    presented = presented_token(request)
    found: tuple[SignedIn, bool] | None = None
    if presented is not None and presented[0]:
        signed = await _signed_in(get_deps(request), presented[0])
        found = None if signed is None else (signed, presented[1])
    request.state.cdds_signed_in = found
    return found


async def _signed_in(deps: GatewayDeps, token: str) -> SignedIn | None:
    if token.startswith(TOKEN_PREFIX):
        return await deps.integrations.signed_in(token)
    return await deps.identity.signed_in(token)


async def principal_or_none(request: Request) -> Principal | None:
    """The caller, or ``None`` when not signed in. Checks neither CSRF nor roles (pages do)."""
    found = await signed_in_or_none(request)
    if found is None:
        return None
    signed, via_cookie = found
    return Principal(
        user_id=signed.user.id,
        username=signed.user.username,
        tenant=signed.tenant.name,
        ucs_tenant_id=signed.tenant.ucs_tenant_id,
        roles=tuple(signed.user.roles),
        session_id=signed.session.id,
        csrf_token=signed.session.csrf_token,
        via_cookie=via_cookie,
        integration=signed.user.integration,
        must_change_password=signed.user.must_change_password,
    )


def check_csrf(request: Request, principal: Principal, form_token: str | None = None) -> None:
    """Refuse (403 ``csrf``) a cookie-authenticated unsafe request without the session's CSRF
    token in the ``X-CSRF-Token`` header or, for a form post, in ``form_token``."""
    if not principal.via_cookie or request.method.upper() not in UNSAFE_METHODS:
        return
    expected = principal.csrf_token.encode()
    for offered in (request.headers.get(CSRF_HEADER), form_token):
        if offered and hmac.compare_digest(offered.encode(), expected):
            return
    raise ApiError(
        403,
        "csrf",
        f"missing or wrong CSRF token: send the {CSRF_HEADER} header given at sign-in",
    )


def _origin(url: str) -> str | None:
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.netloc:
        return None
    port = parts.port
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    host = (parts.hostname or "").lower()
    return f"{parts.scheme.lower()}://{host}" + ("" if port in (None, default) else f":{port}")


def check_same_origin(request: Request, settings: Settings) -> None:
    """Refuse (403 ``cross_origin``) a request sent from a page of another origin than the
    gateway's (its public URL, or the address the request was sent to)."""
    offered = request.headers.get("origin") or request.headers.get("referer")
    if offered is None:
        return
    own = {_origin(settings.gateway.url), _origin(str(request.base_url))}
    if _origin(offered) not in own - {None}:
        raise ApiError(
            403,
            "cross_origin",
            "sign in from the CDDS sign-in page: this request came from another site",
        )


def retry_after(until: datetime) -> dict[str, str]:
    """The ``Retry-After`` header (whole seconds, at least 1) of a refusal lasting ``until``."""
    return {"Retry-After": str(max(1, math.ceil((until - utcnow()).total_seconds())))}


# Declared for the OpenAPI document only (clients and fuzzers learn both ways to authenticate);
# the credentials themselves are read by ``presented_token``.
_BEARER = HTTPBearer(auto_error=False, description="the token returned by POST /api/v1/session")
_COOKIE = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    description="the session cookie; unsafe requests also need the X-CSRF-Token header",
)


async def current_principal(
    request: Request,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)] = None,
    _cookie: Annotated[str | None, Depends(_COOKIE)] = None,
) -> Principal:
    """The signed-in caller (401 ``unauthenticated`` otherwise), CSRF-checked; they may still
    have to change their password (see :func:`password_changed_principal`)."""
    principal = await principal_or_none(request)
    if principal is None:
        raise ApiError(
            401,
            "unauthenticated",
            "sign in first: POST /api/v1/session, then send the session cookie or "
            "Authorization: Bearer <token>",
        )
    check_csrf(request, principal)
    return principal


SignedInPrincipal = Annotated[Principal, Depends(current_principal)]

CHANGE_FIRST = (
    "choose a new password first: POST /api/v1/me/password with current_password and "
    "new_password (or sign in on the web pages)"
)


async def password_changed_principal(principal: SignedInPrincipal) -> Principal:
    """The signed-in caller, unless they must replace a one-time password first (403
    ``password_change_required``)."""
    if principal.must_change_password:
        raise ApiError(403, "password_change_required", CHANGE_FIRST)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(password_changed_principal)]


async def exporter_principal(principal: CurrentPrincipal) -> Principal:
    """A caller with CDDS access (the ``exporter`` role); 403 ``access_denied`` otherwise."""
    if not principal.has("exporter"):
        raise ApiError(403, "access_denied", ACCESS_DENIED)
    return principal


async def admin_principal(principal: CurrentPrincipal) -> Principal:
    """A tenant administrator (the ``admin`` role); 403 ``access_denied`` otherwise."""
    if not principal.has("admin"):
        raise ApiError(403, "access_denied", "this needs the admin role")
    return principal


ExporterPrincipal = Annotated[Principal, Depends(exporter_principal)]
AdminPrincipal = Annotated[Principal, Depends(admin_principal)]


def sign_in_attempt(
    request: Request, username: str, password: str, tenant: str | None, remember_me: bool
) -> SignInAttempt:
    """A sign-in as this request makes it: from its client address, ending the session whose
    token it presents (no session fixation)."""
    presented = presented_token(request)
    return SignInAttempt(
        username=username,
        password=password,
        tenant=tenant,
        remember_me=remember_me,
        client=client_address(request),
        replaces=presented[0] if presented else None,
    )


def cookie_is_secure(request: Request, settings: Settings) -> bool:
    return request.url.scheme == "https" or settings.gateway.url.lower().startswith("https:")


def set_session_cookie(
    response: Response,
    request: Request,
    settings: Settings,
    token: str,
    *,
    lifetime: timedelta | None = None,
) -> None:
    """Set ``cdds_session``; ``lifetime`` only for Remember me, else a browser-session cookie
    (gone when the browser closes)."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=None if lifetime is None else int(lifetime.total_seconds()),
        path="/",
        secure=cookie_is_secure(request, settings),
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(response: Response, request: Request, settings: Settings) -> None:
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        secure=cookie_is_secure(request, settings),
        httponly=True,
        samesite="lax",
    )
