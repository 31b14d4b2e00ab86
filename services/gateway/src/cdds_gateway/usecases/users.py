"""Tenant administration: an admin's view of their tenant's users and integrations, and the
changes they make — add a user, grant and revoke roles, disable and enable, unlock, reset a
password (docs/web.md § Users, docs/api.md § Users). For the REST API (``api/users.py``) and the
Users page alike; the caller checks the ``admin`` role (``AdminPrincipal``, ``web/access.py``).

Rules kept here, not at the edge:

- reach: the admin's own tenant only; another tenant's user is ``not found``, like an unknown id;
- the tenant keeps an administrator who can sign in (enabled, ``admin`` and ``exporter``): a
  change that would remove the last one is a ``ConflictError``;
- an integration's principal is shown but read-only (its operator manages it with
  ``cdds-admin integration``), and never gets a password;
- a one-time password is returned once, never stored but as its hash, never logged or audited.

Every change is audited (``user.*``), a refused one as a failure with its reason. Without
transactions (FerretDB), two admins removing each other at the same moment can both pass the
last-admin check; ``cdds-admin user set-role`` repairs that.
"""

from __future__ import annotations

from typing import Any

from cdds_gateway.deps import GatewayDeps
from cdds_gateway.principal import Principal
from cdds_gateway.usecases.audit import record
from cdds_gateway.usecases.errors import not_found
from cdds_gateway.usecases.passwords import one_time_password
from cdds_gateway.usecases.user_views import NewUser, OneTimePassword, UserView
from cdds_shared.errors import ConflictError, NotFoundError
from cdds_shared.identity import Role, User

__all__ = [
    "add_user",
    "can_sign_in_as_admin",
    "get_user",
    "list_users",
    "reset_password",
    "set_disabled",
    "set_role",
    "unlock_user",
]


def can_sign_in_as_admin(user: User) -> bool:
    """An administrator who can act: signs in (enabled, ``exporter``) and has ``admin``."""
    return (
        not user.disabled
        and user.integration is None
        and user.has("admin")
        and user.has("exporter")
    )


async def list_users(deps: GatewayDeps, principal: Principal) -> list[UserView]:
    """The admin's tenant's users and integrations' principals, by name."""
    return [UserView.of(u) for u in await deps.identity.list_users(principal.tenant)]


async def get_user(deps: GatewayDeps, principal: Principal, user_id: str) -> UserView:
    return UserView.of(await _in_tenant(deps, principal, user_id))


async def add_user(
    deps: GatewayDeps, principal: Principal, new: NewUser, *, client: str | None = None
) -> OneTimePassword:
    """A new user of the admin's tenant with a one-time password (returned once), which they
    must change at their first sign-in. Raises ``ConflictError`` when the name is taken."""
    password = one_time_password()
    try:
        user = await deps.identity.create_user(
            new.username, principal.tenant, new.roles, password, must_change_password=True
        )
    except ConflictError as exc:
        await _refused(deps, principal, "user.create", None, exc, client, username=new.username)
        raise
    await record(
        deps, principal, "user.create", user.id, client=client,
        username=user.username, roles=list(user.roles),
    )  # fmt: skip
    return OneTimePassword(user=UserView.of(user), one_time_password=password)


async def set_role(
    deps: GatewayDeps,
    principal: Principal,
    user_id: str,
    role: Role,
    granted: bool,
    *,
    client: str | None = None,
) -> UserView:
    """Grant (or revoke) ``role``; effective at the user's next request."""
    action = "user.grant" if granted else "user.revoke"
    user = await _changeable(deps, principal, user_id, action, client, role=role)
    roles = [r for r in user.roles if r != role] + ([role] if granted else [])
    after = user.model_copy(update={"roles": roles})
    await _keep_an_admin(deps, principal, user, after, action, client, role=role)
    changed = await deps.identity.set_roles(user.id, roles)
    await record(
        deps, principal, action, user.id, client=client, username=user.username, role=role,
        roles=list(changed.roles),
    )  # fmt: skip
    return UserView.of(changed)


async def set_disabled(
    deps: GatewayDeps,
    principal: Principal,
    user_id: str,
    disabled: bool,
    *,
    client: str | None = None,
) -> UserView:
    """Disable (their sessions end at once) or enable a user."""
    action = "user.disable" if disabled else "user.enable"
    user = await _changeable(deps, principal, user_id, action, client)
    after = user.model_copy(update={"disabled": disabled})
    await _keep_an_admin(deps, principal, user, after, action, client)
    changed = await deps.identity.disable_user(user.id, disabled=disabled)
    await record(deps, principal, action, user.id, client=client, username=user.username)
    return UserView.of(changed)


async def unlock_user(
    deps: GatewayDeps, principal: Principal, user_id: str, *, client: str | None = None
) -> UserView:
    """End a lock from failed sign-ins; the failure count starts again."""
    user = await _changeable(deps, principal, user_id, "user.unlock", client)
    changed = await deps.identity.unlock_user(user.id)
    await record(deps, principal, "user.unlock", user.id, client=client, username=user.username)
    return UserView.of(changed)


async def reset_password(
    deps: GatewayDeps, principal: Principal, user_id: str, *, client: str | None = None
) -> OneTimePassword:
    """A new one-time password (returned once), to be changed at the next sign-in; the user's
    sessions end and any lock is cleared. Not the admin's own (``ConflictError``)."""
    action = "user.password.reset"
    user = await _changeable(deps, principal, user_id, action, client)
    if user.id == principal.user_id:  # it would end this very session
        refusal = ConflictError(
            "to change your own password, use Choose a new password (POST /api/v1/me/password)"
        )
        await _refused(deps, principal, action, user.id, refusal, client)
        raise refusal
    password = one_time_password()
    changed = await deps.identity.set_password(user.id, password, must_change=True)
    await record(deps, principal, action, user.id, client=client, username=user.username)
    return OneTimePassword(user=UserView.of(changed), one_time_password=password)


# -- the rules -----------------------------------------------------------------------------------


async def _in_tenant(deps: GatewayDeps, principal: Principal, user_id: str) -> User:
    """The user, if of the admin's tenant; unknown and another tenant's look the same."""
    try:
        user = await deps.identity.get_user(user_id)
    except NotFoundError:
        raise not_found("user", user_id) from None
    if user.tenant != principal.tenant:
        raise not_found("user", user_id)
    return user


async def _changeable(
    deps: GatewayDeps,
    principal: Principal,
    user_id: str,
    action: str,
    client: str | None,
    **detail: Any,
) -> User:
    """The user to change: of the admin's tenant, and a person (integrations are read-only)."""
    user = await _in_tenant(deps, principal, user_id)
    if user.integration is not None:
        refusal = ConflictError(
            f"{user.username!r} is the principal of integration {user.integration!r}: "
            "its operator manages it (cdds-admin integration)"
        )
        await _refused(deps, principal, action, user.id, refusal, client, **detail)
        raise refusal
    return user


async def _keep_an_admin(
    deps: GatewayDeps,
    principal: Principal,
    before: User,
    after: User,
    action: str,
    client: str | None,
    **detail: Any,
) -> None:
    """Refuse a change that leaves the tenant without an administrator who can sign in."""
    if not can_sign_in_as_admin(before) or can_sign_in_as_admin(after):
        return
    others = [
        u
        for u in await deps.identity.list_users(principal.tenant)
        if u.id != before.id and can_sign_in_as_admin(u)
    ]
    if others:
        return
    refusal = ConflictError(
        f"{before.username!r} is the last administrator of tenant {principal.tenant!r}: "
        "make another user an administrator (with CDDS access) first"
    )
    await _refused(deps, principal, action, before.id, refusal, client, **detail)
    raise refusal


async def _refused(
    deps: GatewayDeps,
    principal: Principal,
    action: str,
    target: str | None,
    exc: Exception,
    client: str | None,
    **detail: Any,
) -> None:
    await record(
        deps, principal, action, target, outcome="failure", client=client, reason=str(exc),
        **detail,
    )  # fmt: skip
