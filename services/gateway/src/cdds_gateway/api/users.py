"""`/api/v1/users` — tenant administration for the ``admin`` role (docs/api.md § Users).

The admin's own tenant only: another tenant's user answers 404 like an unknown id. The rules
(the last administrator, read-only integrations, one-time passwords) are in ``usecases/users.py``.
A one-time password is in the answer once (``Cache-Control: no-store``), never again.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from cdds_gateway.deps import Deps
from cdds_gateway.errors import responses
from cdds_gateway.security import AdminPrincipal, client_address
from cdds_gateway.usecases import users
from cdds_gateway.usecases.user_views import NewUser, OneTimePassword, UserView
from cdds_shared.identity import Role

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/users", tags=["users"])

UserId = Annotated[str, Path(max_length=64, description="the user's id")]
RoleName = Annotated[Role, Path(description="exporter or admin")]
NO_STORE = {"Cache-Control": "no-store"}


@router.get(
    "",
    summary="The tenant's users and integrations (admins)",
    response_model=list[UserView],
    responses=responses(401, 403),
)
async def list_users(principal: AdminPrincipal, deps: Deps) -> list[UserView]:
    return await users.list_users(deps, principal)


@router.post(
    "",
    summary="Add a user with a one-time password (admins)",
    status_code=201,
    response_model=OneTimePassword,
    responses=responses(401, 403, 409, 422),
)
async def add_user(
    body: NewUser, request: Request, response: Response, principal: AdminPrincipal, deps: Deps
) -> OneTimePassword:
    response.headers.update(NO_STORE)
    return await users.add_user(deps, principal, body, client=client_address(request))


@router.get(
    "/{user_id}",
    summary="One user of the tenant (admins)",
    response_model=UserView,
    responses=responses(401, 403, 404, 422),
)
async def get_user(user_id: UserId, principal: AdminPrincipal, deps: Deps) -> UserView:
    return await users.get_user(deps, principal, user_id)


@router.put(
    "/{user_id}/roles/{role}",
    summary="Grant a role (admins)",
    response_model=UserView,
    responses=responses(401, 403, 404, 409, 422),
)
async def grant_role(
    user_id: UserId, role: RoleName, request: Request, principal: AdminPrincipal, deps: Deps
) -> UserView:
    client = client_address(request)
    return await users.set_role(deps, principal, user_id, role, True, client=client)


@router.delete(
    "/{user_id}/roles/{role}",
    summary="Revoke a role (admins; not the last administrator's)",
    response_model=UserView,
    responses=responses(401, 403, 404, 409, 422),
)
async def revoke_role(
    user_id: UserId, role: RoleName, request: Request, principal: AdminPrincipal, deps: Deps
) -> UserView:
    client = client_address(request)
    return await users.set_role(deps, principal, user_id, role, False, client=client)


@router.post(
    "/{user_id}/disable",
    summary="Disable a user: their sessions end at once (admins; not the last administrator)",
    response_model=UserView,
    responses=responses(401, 403, 404, 409, 422),
)
async def disable_user(
    user_id: UserId, request: Request, principal: AdminPrincipal, deps: Deps
) -> UserView:
    client = client_address(request)
    return await users.set_disabled(deps, principal, user_id, True, client=client)


@router.post(
    "/{user_id}/enable",
    summary="Enable a disabled user again (admins)",
    response_model=UserView,
    responses=responses(401, 403, 404, 409, 422),
)
async def enable_user(
    user_id: UserId, request: Request, principal: AdminPrincipal, deps: Deps
) -> UserView:
    client = client_address(request)
    return await users.set_disabled(deps, principal, user_id, False, client=client)


@router.post(
    "/{user_id}/unlock",
    summary="End a lock from failed sign-ins (admins)",
    response_model=UserView,
    responses=responses(401, 403, 404, 409, 422),
)
async def unlock_user(
    user_id: UserId, request: Request, principal: AdminPrincipal, deps: Deps
) -> UserView:
    return await users.unlock_user(deps, principal, user_id, client=client_address(request))


@router.post(
    "/{user_id}/password",
    summary="Reset the password: a new one-time password, the user's sessions end (admins)",
    response_model=OneTimePassword,
    responses=responses(401, 403, 404, 409, 422),
)
async def reset_password(
    user_id: UserId, request: Request, response: Response, principal: AdminPrincipal, deps: Deps
) -> OneTimePassword:
    response.headers.update(NO_STORE)
    client = client_address(request)
    return await users.reset_password(deps, principal, user_id, client=client)
