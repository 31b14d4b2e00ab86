"""Signing in and out: the use case behind ``POST/DELETE /api/v1/session`` and the sign-in page.

Every attempt is audited (``session.create``, success or failure with the reason); the caller
only learns what the issue allows: wrong credentials look the same whatever the reason, and an
unknown name locks like a real account. A client address that spent its failures
(``IdentityPolicy.ip_max_failures`` per window, ``throttle.py``) is refused before any check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cdds_shared.audit import AuditEvent, AuditLog, Outcome
from cdds_shared.identity.errors import (
    AccessDenied,
    AccountLocked,
    ClientThrottled,
    InvalidCredentials,
    TenantRequired,
)
from cdds_shared.identity.model import SignedIn, User
from cdds_shared.identity.policy import IdentityPolicy
from cdds_shared.identity.store import IdentityStore
from cdds_shared.runs.model import utcnow

__all__ = ["SignInAttempt", "sign_in", "sign_out"]


@dataclass(frozen=True)
class SignInAttempt:
    username: str
    password: str = field(repr=False)
    tenant: str | None = None
    remember_me: bool = False
    client: str | None = None
    """The client's address, for the audit log."""
    replaces: str | None = None
    """A session token presented with the request: it is ended whatever the outcome, so a
    session planted before sign-in never becomes a signed-in one (session fixation)."""


async def sign_in(
    identity: IdentityStore,
    audit: AuditLog,
    attempt: SignInAttempt,
    *,
    policy: IdentityPolicy | None = None,
    now: datetime | None = None,
) -> tuple[str, SignedIn]:
    """A new session for these credentials: ``(token, signed_in)``.

    Raises:
        TenantRequired, InvalidCredentials, AccountLocked: from ``IdentityStore.authenticate``.
        AccessDenied: right credentials, but no ``exporter`` role (no session is created).
        ClientThrottled: too many failures from ``attempt.client`` in this window.
    """
    if attempt.replaces:
        await identity.delete_session(attempt.replaces)
    tenant = (attempt.tenant or "").strip() or None

    async def record(outcome: Outcome, user: User | None, **detail: Any) -> None:
        await audit.record(
            AuditEvent(
                tenant=user.tenant if user else tenant,
                actor=attempt.username.strip()[:256],
                action="session.create",
                target=user.id if user else None,
                outcome=outcome,
                detail=detail,
                client=attempt.client,
            )
        )

    policy = policy or identity.policy
    moment = now or utcnow()
    throttle = identity.throttle
    blocked = await throttle.address_blocked_until(attempt.client, moment, policy)
    if blocked is not None:
        await record("failure", None, reason="throttled", until=blocked.isoformat())
        raise ClientThrottled(blocked)
    try:
        user = await identity.authenticate(
            attempt.username, tenant, attempt.password, now=now, policy=policy
        )
    except TenantRequired:
        await record("failure", None, reason="tenant_required")
        raise
    except InvalidCredentials as exc:
        await throttle.count_address_failure(attempt.client, moment, policy)
        await record("failure", exc.user, reason=exc.reason)
        raise
    except AccountLocked as exc:
        await throttle.count_address_failure(attempt.client, moment, policy)
        guessed = "wrong_password" if exc.user is not None else "unknown_user"
        reason = guessed if exc.just_locked else "locked"
        await record("failure", exc.user, reason=reason, locked_until=exc.until.isoformat())
        raise
    if not user.has("exporter"):
        await record("failure", user, reason="no_exporter_role")
        raise AccessDenied(user)
    token, session = await identity.create_session(
        user, attempt.remember_me, now=now, policy=policy
    )
    await record(
        "success",
        user,
        remember_me=attempt.remember_me,
        expires_at=session.expires_at.isoformat(),
    )
    return token, SignedIn(
        session=session, user=user, tenant=await identity.get_tenant(user.tenant)
    )


async def sign_out(
    identity: IdentityStore,
    audit: AuditLog,
    *,
    session_id: str,
    user_id: str,
    username: str,
    tenant: str,
    client: str | None = None,
) -> None:
    """End the session and audit it (``session.delete``)."""
    await identity.delete_session_id(session_id)
    await audit.record(
        AuditEvent(
            tenant=tenant,
            actor=username,
            action="session.delete",
            target=user_id,
            client=client,
        )
    )
