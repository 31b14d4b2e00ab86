"""Signing in and out, for the REST API (``api/session.py``) and the sign-in page alike.

A sign-in always starts a new session (a token presented with it is ended first: no session
fixation). The refusals are the errors of ``cdds_shared.identity.errors``; the edge's table gives
each its status. Every attempt and every sign-out is audited (in ``cdds_shared.identity``).
"""

from __future__ import annotations

from datetime import timedelta

from cdds_gateway.deps import GatewayDeps
from cdds_gateway.principal import Principal
from cdds_shared.errors import ConflictError
from cdds_shared.identity import SignedIn, SignInAttempt, sign_in, sign_out
from cdds_shared.identity.policy import IdentityPolicy

__all__ = ["cookie_lifetime", "end_session", "needs_tenant", "start_session"]


async def needs_tenant(deps: GatewayDeps, username: str, tenant: str | None) -> bool:
    """The *Next* step: whether the name exists in several tenants and none was given."""
    return await deps.identity.tenant_required(username, tenant)


async def start_session(deps: GatewayDeps, attempt: SignInAttempt) -> tuple[str, SignedIn]:
    """The new session's token and who signed in; raises one of ``SIGN_IN_REFUSALS``."""
    policy = IdentityPolicy.of(deps.settings.gateway)
    return await sign_in(deps.identity, deps.audit, attempt, policy=policy)


def cookie_lifetime(deps: GatewayDeps, remember_me: bool) -> timedelta | None:
    """How long the session cookie lasts: Remember me's lifetime, else the browser session."""
    return IdentityPolicy.of(deps.settings.gateway).remember_me_lifetime if remember_me else None


async def end_session(deps: GatewayDeps, principal: Principal, *, client: str | None) -> None:
    """End the caller's session, audited. An integration's token is no session: it is refused
    (409 ``conflict``), since only ``revoke`` ends it."""
    if principal.integration is not None:
        raise ConflictError(
            f"integration {principal.integration!r} signs in with a token, not a session: "
            "ask the operator to revoke it (cdds-admin integration revoke)"
        )
    await sign_out(
        deps.identity,
        deps.audit,
        session_id=principal.session_id,
        user_id=principal.user_id,
        username=principal.username,
        tenant=principal.tenant,
        client=client,
    )
