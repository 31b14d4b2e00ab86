"""Why a sign-in failed. The gateway maps these to HTTP; the reasons go to the audit log only."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from cdds_shared.errors import PermanentError
from cdds_shared.identity.model import User

__all__ = [
    "ACCESS_DENIED",
    "SIGN_IN_REFUSALS",
    "TENANT_REQUIRED",
    "WRONG_CREDENTIALS",
    "AccessDenied",
    "AccountLocked",
    "ClientThrottled",
    "FailureReason",
    "InvalidCredentials",
    "TenantRequired",
]

FailureReason = Literal["unknown_user", "wrong_password", "disabled"]
WRONG_CREDENTIALS = "wrong username, tenant or password"
TENANT_REQUIRED = "this username exists in several tenants: enter your tenant"
ACCESS_DENIED = "ask your administrator for CDDS access"
"""What a signed-in user without the ``exporter`` role is told, by the sign-in and every route."""


class InvalidCredentials(PermanentError):
    """Unknown user, wrong password or disabled account: one message for all three."""

    code = "invalid_credentials"

    def __init__(self, reason: FailureReason, user: User | None = None) -> None:
        super().__init__(WRONG_CREDENTIALS)
        self.reason = reason
        self.user = user


class TenantRequired(PermanentError):
    """The username exists in several tenants and none was given."""

    code = "tenant_required"

    def __init__(self) -> None:
        super().__init__(TENANT_REQUIRED)


class AccountLocked(PermanentError):
    """Too many failed sign-ins; the account is locked until ``until``.

    ``user`` is ``None`` when the name matches no account: it locks all the same, with the
    same message, so a lock does not tell that an account exists.
    """

    code = "locked"

    def __init__(self, user: User | None, until: datetime, *, just_locked: bool = False) -> None:
        super().__init__(f"too many failed sign-ins: try again after {until:%H:%M} UTC")
        self.user = user
        self.until = self.retry_at = until
        self.just_locked = just_locked


class AccessDenied(PermanentError):
    """The credentials are right but the user lacks the CDDS (``exporter``) role. The same
    message answers every route such a user calls (``ACCESS_DENIED``)."""

    code = "access_denied"

    def __init__(self, user: User) -> None:
        super().__init__(ACCESS_DENIED)
        self.user = user


class ClientThrottled(PermanentError):
    """Too many failed sign-ins from this client address, whatever the names; until ``until``."""

    code = "throttled"

    def __init__(self, until: datetime) -> None:
        super().__init__(
            f"too many failed sign-ins from your address: try again after {until:%H:%M} UTC"
        )
        self.until = self.retry_at = until


SIGN_IN_REFUSALS = (
    InvalidCredentials,
    TenantRequired,
    AccessDenied,
    AccountLocked,
    ClientThrottled,
)
"""Every way a sign-in is refused; the gateway's table (``cdds_gateway/errors.py``) gives each
its status, for the REST API and the sign-in page alike."""
