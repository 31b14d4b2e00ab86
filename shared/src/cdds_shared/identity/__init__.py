"""Tenants, users, roles, passwords (argon2id) and server-side sessions (docs/api.md)."""

from __future__ import annotations

from cdds_shared.identity.errors import (
    AccessDenied,
    AccountLocked,
    ClientThrottled,
    FailureReason,
    InvalidCredentials,
    TenantRequired,
)
from cdds_shared.identity.model import (
    ROLES,
    Role,
    SealMode,
    Session,
    SignedIn,
    Tenant,
    User,
    check_tenant_name,
    check_username,
)
from cdds_shared.identity.passwords import Passwords, check_password
from cdds_shared.identity.policy import IdentityPolicy
from cdds_shared.identity.signin import SignInAttempt, sign_in, sign_out
from cdds_shared.identity.store import IdentityStore
from cdds_shared.identity.throttle import SignInThrottle
from cdds_shared.identity.tokens import new_token, token_id

__all__ = [
    "ROLES",
    "AccessDenied",
    "AccountLocked",
    "ClientThrottled",
    "FailureReason",
    "IdentityPolicy",
    "IdentityStore",
    "InvalidCredentials",
    "Passwords",
    "Role",
    "SealMode",
    "Session",
    "SignInAttempt",
    "SignInThrottle",
    "SignedIn",
    "Tenant",
    "TenantRequired",
    "User",
    "check_password",
    "check_tenant_name",
    "check_username",
    "new_token",
    "sign_in",
    "sign_out",
    "token_id",
]
