"""Who sees what (DESIGN §7): everything is confined to the caller's tenant; within it, jobs,
runs and artifacts belong to their owner. An ``admin`` sees and manages the whole tenant's.

Every query of the use cases starts from ``scope(principal)``, so a forgotten filter cannot leak
another tenant's documents; what is out of scope is reported as not found (404), never 403.
"""

from __future__ import annotations

from typing import Any

from cdds_gateway.principal import Principal

__all__ = ["scope"]


def scope(principal: Principal, owner: str | None = None) -> dict[str, Any]:
    """The filter of the documents ``principal`` may see; an admin may narrow it to ``owner``."""
    if principal.has("admin"):
        return {"tenant": principal.tenant} | ({"owner": owner} if owner else {})
    return {"tenant": principal.tenant, "owner": principal.user_id}
