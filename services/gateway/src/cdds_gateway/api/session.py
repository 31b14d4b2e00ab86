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
    SignedInPrincipal,
    check_same_origin,
    clear_session_cookie,
    client_address,
    set_session_cookie,
    sign_in_attempt,
)
from cdds_gateway.usecases import session
from cdds_shared.errors import CddsError
from cdds_shared.identity import Role, SignedIn
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
    password_change_required: bool = Field(
        False,
        description="signed in with a one-time password: every other route answers 403 "
        "password_change_required until POST /api/v1/me/password",
    )

    @classmethod
    def of(cls, token: str, signed: SignedIn) -> SignedInResult:
        return cls(
            user=signed.user.username,
            user_id=signed.user.id,
            tenant=signed.tenant.name,
            roles=signed.user.roles,
            token=token,
            csrf_token=signed.session.csrf_token,
            remember_me=signed.session.remember_me,
            expires_at=signed.session.expires_at,
            password_change_required=signed.user.must_change_password,
        )


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
    attempt = sign_in_attempt(request, body.username, body.password, body.tenant, body.remember_me)
    try:
        token, signed = await session.start_session(deps, attempt)
    except SIGN_IN_REFUSALS as exc:
        return _refuse(request, deps, exc)
    result = SignedInResult.of(token, signed).model_dump(mode="json")
    response = JSONResponse(result, headers={"Cache-Control": "no-store"})
    lifetime = session.cookie_lifetime(deps, body.remember_me)
    set_session_cookie(response, request, deps.settings, token, lifetime=lifetime)
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
    responses=responses(401, 403, 409),
)
async def delete_session(request: Request, principal: SignedInPrincipal, deps: Deps) -> Response:
    await session.end_session(deps, principal, client=client_address(request))
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
        tenant_required=await session.needs_tenant(deps, body.username, body.tenant)
    )
