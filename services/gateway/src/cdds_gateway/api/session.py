"""`/api/v1/session` — sign in, sign out, the *Next* step of the two-step sign-in (docs/api.md).

A sign-in always starts a new session (a token presented with it is ended first: no session
fixation). The refusals tell the user what they can act on and nothing more: unknown user, wrong
password and disabled account are the same 401, and an unknown name locks (429, same
``Retry-After``) after as many failures as a real account. A client address that spent its
failed sign-ins is refused (429 ``throttled``) whatever the name; a sign-in sent from another
site's page is refused (403 ``cross_origin``).
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from cdds_gateway.deps import Deps
from cdds_gateway.errors import error_headers, public_detail, responses, status_of
from cdds_gateway.security import (
    SESSION_COOKIE,
    CurrentPrincipal,
    check_same_origin,
    clear_session_cookie,
    client_address,
    login_policy,
    presented_token,
    set_session_cookie,
)
from cdds_shared.errors import CddsError
from cdds_shared.identity import (
    Role,
    SignInAttempt,
    sign_in,
    sign_out,
)
from cdds_shared.identity.errors import SIGN_IN_REFUSALS

__all__ = ["Lookup", "LookupResult", "SignIn", "SignedInResult", "router"]

router = APIRouter(prefix="/api/v1", tags=["session"])


class SignIn(BaseModel):
    username: str = Field(min_length=1, max_length=256)
    tenant: str | None = Field(None, max_length=64, description="needed only when ambiguous")
    password: str = Field(max_length=1024, repr=False)
    remember_me: bool = Field(False, description="a persistent cookie and a longer session")


class SignedInResult(BaseModel):
    user: str = Field(description="the username")
    user_id: str
    tenant: str
    roles: list[Role]
    token: str = Field(description="the bearer token (also set as the session cookie)")
    csrf_token: str = Field(description="send as X-CSRF-Token on unsafe cookie requests")
    remember_me: bool
    expires_at: datetime


class Lookup(BaseModel):
    username: str = Field(min_length=1, max_length=256)
    tenant: str | None = Field(None, max_length=64)


class LookupResult(BaseModel):
    tenant_required: bool = Field(
        description="true only when the username exists in several tenants and none was given"
    )


@router.post(
    "/session",
    summary="Sign in",
    response_model=SignedInResult,
    responses=responses(401, 403, 409, 422, 429),
)
async def create_session(body: SignIn, request: Request, deps: Deps) -> JSONResponse:
    check_same_origin(request, deps.settings)
    presented = presented_token(request)
    attempt = SignInAttempt(
        username=body.username,
        password=body.password,
        tenant=body.tenant,
        remember_me=body.remember_me,
        client=client_address(request),
        replaces=presented[0] if presented else None,
    )
    policy = login_policy(deps.settings)
    try:
        token, signed = await sign_in(deps.identity, deps.audit, attempt, policy=policy)
    except SIGN_IN_REFUSALS as exc:
        return _refuse(request, deps, exc)
    result = SignedInResult(
        user=signed.user.username,
        user_id=signed.user.id,
        tenant=signed.tenant.name,
        roles=signed.user.roles,
        token=token,
        csrf_token=signed.session.csrf_token,
        remember_me=signed.session.remember_me,
        expires_at=signed.session.expires_at,
    )
    response = JSONResponse(result.model_dump(mode="json"), headers={"Cache-Control": "no-store"})
    max_age = None
    if body.remember_me:
        max_age = int(policy.remember_me_lifetime.total_seconds())
    set_session_cookie(response, request, deps.settings, token, max_age=max_age)
    return response


def _refuse(request: Request, deps: Deps, exc: CddsError) -> JSONResponse:
    """The refusal as the edge's table says (``cdds_gateway/errors.py``), the cookie of the
    session the attempt ended cleared."""
    response = JSONResponse(
        {"error": exc.code, "detail": public_detail(exc)},
        status_code=status_of(exc),
        headers=error_headers(exc),
    )
    if request.cookies.get(SESSION_COOKIE):  # its session was ended by the attempt
        clear_session_cookie(response, request, deps.settings)
    return response


@router.delete(
    "/session",
    summary="Sign out",
    status_code=204,
    response_class=Response,
    responses=responses(401, 403),
)
async def delete_session(request: Request, principal: CurrentPrincipal, deps: Deps) -> Response:
    await sign_out(
        deps.identity,
        deps.audit,
        session_id=principal.session_id,
        user_id=principal.user_id,
        username=principal.username,
        tenant=principal.tenant,
        client=client_address(request),
    )
    response = Response(status_code=204)
    clear_session_cookie(response, request, deps.settings)
    return response


@router.post(
    "/session/lookup",
    summary="The Next step of sign-in: must the user give a tenant?",
    response_model=LookupResult,
)
async def lookup_sign_in(body: Lookup, deps: Deps) -> LookupResult:
    return LookupResult(
        tenant_required=await deps.identity.tenant_required(body.username, body.tenant)
    )
