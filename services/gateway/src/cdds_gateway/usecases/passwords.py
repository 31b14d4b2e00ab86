"""Passwords people choose and passwords the server makes: the rule a new password follows, the
one-time passwords an administrator hands out (docs/web.md § Users), and a user replacing theirs
— for the REST API (``POST /api/v1/me/password``) and the *Choose a new password* page alike."""

from __future__ import annotations

import secrets

from cdds_gateway.deps import GatewayDeps
from cdds_gateway.principal import Principal
from cdds_gateway.usecases.audit import record
from cdds_shared.errors import ConflictError, ValidationFailed
from cdds_shared.identity.passwords import MAX_PASSWORD_LENGTH

__all__ = ["MIN_PASSWORD_LENGTH", "change_password", "check_new_password", "one_time_password"]

MIN_PASSWORD_LENGTH = 12
ONE_TIME_BYTES = 15
"""120 random bits: 20 URL-safe characters, easy to read out and type once."""


def one_time_password() -> str:
    """A fresh random password, to be shown once and changed at the first sign-in."""
    return secrets.token_urlsafe(ONE_TIME_BYTES)


def check_new_password(password: str) -> str:
    """The password, or ``ValidationFailed`` saying what a password needs."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            f"new_password: use at least {MIN_PASSWORD_LENGTH} characters",
            locations=[("new_password",)],
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationFailed(
            f"new_password: use at most {MAX_PASSWORD_LENGTH} characters",
            locations=[("new_password",)],
        )
    return password


async def change_password(
    deps: GatewayDeps,
    principal: Principal,
    current_password: str,
    new_password: str,
    *,
    client: str | None = None,
) -> None:
    """Replace the caller's password (the one-time one too). Their other sessions end; this one
    goes on, no longer held to changing it. Audited (``user.password.change``), refusals too.

    Raises:
        ValidationFailed: the current password is wrong, or the new one breaks the rule or is
            the current one.
        ConflictError: the caller is an integration (it has a token, no password).
    """
    if principal.integration is not None:
        raise ConflictError("an integration signs in with its token: it has no password")
    try:
        check_new_password(new_password)
        if not await deps.identity.check_password(principal.user_id, current_password):
            raise ValidationFailed(
                "current_password: this is not your current password",
                locations=[("current_password",)],
            )
        if new_password == current_password:
            raise ValidationFailed(
                "new_password: choose a password other than the current one",
                locations=[("new_password",)],
            )
    except ValidationFailed as exc:
        await record(
            deps, principal, "user.password.change", principal.user_id, outcome="failure",
            client=client, reason=str(exc),
        )  # fmt: skip
        raise
    await deps.identity.set_password(
        principal.user_id, new_password, keep_session=principal.session_id
    )
    await record(deps, principal, "user.password.change", principal.user_id, client=client)
