"""Why a sign-in failed. The gateway maps these to HTTP; the reasons go to the audit log only."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from cdds_shared.errors import PermanentError
from cdds_shared.identity.model import User

__all__ = [
    "AccessDenied",
    "AccountLocked",
    "ClientThrottled",
    "FailureReason",
    "InvalidCredentials",
    "TenantRequired",
]

FailureReason = Literal["unknown_user", "wrong_password", "disabled"]


class InvalidCredentials(PermanentError):
    """Unknown user, wrong password or disabled account: one message for all three."""

    code = "invalid_credentials"

    def __init__(self, reason: FailureReason, user: User | None = None) -> None:
        super().__init__("wrong username, tenant or password")
        self.reason = reason
        self.user = user


class TenantRequired(PermanentError):
    """The username exists in several tenants and none was given."""

    code = "tenant_required"

    def __init__(self) -> None:
        super().__init__("this username exists in several tenants: enter your tenant")


class AccountLocked(PermanentError):
    """Too many failed sign-ins; the account is locked until ``until``.

    ``user`` is ``None`` when the name matches no account: it locks all the same, with the
    same message, so a lock does not tell that an account exists.
    """

    code = "locked"

    def __init__(self, user: User | None, until: datetime, *, just_locked: bool = False) -> None:
        super().__init__(f"too many failed sign-ins: try again after {until:%H:%M} UTC")
        self.user = user
        self.until = until
        self.just_locked = just_locked


class AccessDenied(PermanentError):
    """The credentials are right but the user lacks the CDDS (``exporter``) role."""

    code = "access_denied"

    def __init__(self, user: User) -> None:
        super().__init__("you do not have access to CDDS: ask your administrator for CDDS access")
        self.user = user


class ClientThrottled(PermanentError):
    """Too many failed sign-ins from this client address, whatever the names; until ``until``."""

    code = "throttled"

    def __init__(self, until: datetime) -> None:
        super().__init__(
            f"too many failed sign-ins from your address: try again after {until:%H:%M} UTC"
        )
        self.until = until
