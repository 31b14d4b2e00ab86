"""What tenant administration takes and answers (``usecases/users.py``): a user as an admin
sees them, a new user, and a one-time password shown once."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from cdds_shared.identity import Role, User
from cdds_shared.runs.model import utcnow

__all__ = ["NewUser", "OneTimePassword", "PasswordChange", "UserView"]


class UserView(BaseModel):
    """A user (or an integration's principal) of the admin's tenant; never their password."""

    id: str
    username: str
    kind: Literal["user", "integration"] = Field(
        description="a person, or another system's principal (read-only here)"
    )
    integration: str | None = Field(None, description="the integration's name, if it is one")
    roles: list[Role]
    disabled: bool
    locked: bool = Field(description="locked now by failed sign-ins")
    locked_until: datetime | None
    must_change_password: bool = Field(
        description="holds a one-time password: must choose a new one at the next sign-in"
    )
    created_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, user: User, now: datetime | None = None) -> UserView:
        locked = user.locked_at(now or utcnow())
        return cls(
            id=user.id,
            username=user.username,
            kind="user" if user.integration is None else "integration",
            integration=user.integration,
            roles=list(user.roles),
            disabled=user.disabled,
            locked=locked,
            locked_until=user.locked_until if locked else None,
            must_change_password=user.must_change_password,
            created_at=user.created_at,
            last_login_at=user.last_login_at,
        )


class NewUser(BaseModel):
    username: str = Field(min_length=1, max_length=256)
    roles: list[Role] = Field(
        default_factory=list, description="exporter (CDDS access), admin; none: no access yet"
    )


class OneTimePassword(BaseModel):
    """The answer that carries a one-time password: shown this once, never again."""

    user: UserView
    one_time_password: str = Field(
        description="give it to the user; they must choose a new one when they sign in"
    )


class PasswordChange(BaseModel):
    current_password: str = Field(max_length=1024, repr=False)
    new_password: str = Field(max_length=1024, repr=False, description="at least 12 characters")
