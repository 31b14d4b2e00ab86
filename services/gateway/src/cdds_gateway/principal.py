"""Who is calling: the signed-in user of a request (from the session cookie or a bearer token)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Principal", "Role"]

Role = Literal["exporter", "admin"]


@dataclass(frozen=True)
class Principal:
    user_id: str
    username: str
    tenant: str
    ucs_tenant_id: int
    roles: tuple[Role, ...]
    session_id: str = ""
    csrf_token: str = ""
    via_cookie: bool = False
    """True when authenticated by the session cookie (then unsafe requests need the CSRF token);
    False for a bearer token."""
    integration: str | None = None
    """The integration's name when the caller is one (its ``cdds_int_`` token)."""
    must_change_password: bool = False
    """Signed in with a one-time password: nothing but choosing a new one until then."""

    def has(self, role: Role) -> bool:
        return role in self.roles
