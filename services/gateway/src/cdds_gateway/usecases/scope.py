"""Who sees what (docs/api.md § Who sees what): everything is confined to the caller's tenant;
within it, jobs, runs and artifacts belong to their owner. An ``admin`` sees and manages the
whole tenant's.

Every read of the use cases goes through ``scope(principal)`` (a ``cdds_shared.scope.Scope`` the
stores turn into their filters), so a forgotten filter cannot leak another tenant's documents;
what is out of scope is reported as not found (404), never 403.
"""

from __future__ import annotations

from collections.abc import Hashable

from cdds_gateway.principal import Principal
from cdds_shared.scope import Scope

__all__ = ["read_key", "scope"]


def scope(principal: Principal, owner: str | None = None) -> Scope:
    """What ``principal`` may see; an admin may narrow it to ``owner``."""
    if principal.has("admin"):
        return Scope(principal.tenant, owner or None)
    return Scope(principal.tenant, principal.user_id)


def read_key(
    read: str, principal: Principal, owner: str | None = None, *args: Hashable
) -> Hashable:
    """The key under which ``read`` is shared (``cdds_gateway.coalesce``): what ``principal``
    may see (its scope, not who it is: two admins of a tenant share their listings) and the
    read's own arguments."""
    return (read, scope(principal, owner), *args)
