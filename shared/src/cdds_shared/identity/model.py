"""Tenants, users and sessions as stored documents (MongoDB ``tenants``, ``users``, ``sessions``).

A session document is keyed by the SHA-256 of its token: the token itself is only ever in the
client's hands, so a leaked database cannot be replayed as sessions.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cdds_shared.errors import ValidationFailed

__all__ = [
    "ROLES",
    "Role",
    "SealMode",
    "Session",
    "SignedIn",
    "Tenant",
    "User",
    "check_tenant_name",
    "check_username",
]

Role = Literal["exporter", "admin"]
ROLES: tuple[Role, ...] = ("exporter", "admin")
SealMode = Literal["gcm", "legacy-cbc"]

# No '.': routing keys of the public exchanges are ``<tenant>.<subject>``, and a tenant ``a``
# bound to ``a.#`` would otherwise receive the events of a tenant ``a.b``.
_TENANT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_tenant_name(name: str) -> str:
    """The tenant name, or ``ValidationFailed`` saying what a name may contain."""
    if not _TENANT_NAME.fullmatch(name):
        raise ValidationFailed(
            f"invalid tenant name {name!r}: 1 to 64 letters, digits, '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def check_username(username: str) -> str:
    """The username without surrounding blanks, or ``ValidationFailed``."""
    username = username.strip()
    if not username or len(username) > 256 or _CONTROL.search(username):
        raise ValidationFailed("invalid username: 1 to 256 characters, no control characters")
    return username


class Tenant(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    name: str = Field(alias="_id")
    ucs_tenant_id: int = Field(ge=0, description="the tenant's id in the UCS database")
    created_at: datetime


class User(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str = Field(alias="_id", default_factory=lambda: uuid.uuid4().hex)
    username: str
    tenant: str
    roles: list[Role] = Field(default_factory=list)
    password_hash: str = Field(repr=False, description="argon2id, PHC string format")
    disabled: bool = False
    failed_logins: int = Field(0, description="consecutive failures since the last lock/success")
    locked_until: datetime | None = None
    seal_mode: SealMode = Field("gcm", description="preference: how files are sealed")
    integration: str | None = Field(
        None, description="the integration this user is the principal of (never signs in)"
    )
    must_change_password: bool = Field(
        False, description="a one-time password was set for them: choose a new one first"
    )
    created_at: datetime
    last_login_at: datetime | None = None

    def has(self, role: Role) -> bool:
        return role in self.roles

    def locked_at(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now


class Session(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str = Field(alias="_id", description="SHA-256 (hex) of the session token")
    user_id: str
    tenant: str
    csrf_token: str = Field(repr=False)
    remember_me: bool = False
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class SignedIn:
    """A live session with its user and tenant, as they are now (roles changes apply at once)."""

    session: Session
    user: User
    tenant: Tenant
