"""`/api/v1/audit` — the audit log of the admin's tenant (docs/api.md § Audit)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from cdds_gateway.deps import Deps
from cdds_gateway.errors import responses
from cdds_gateway.moments import Moment
from cdds_gateway.security import AdminPrincipal
from cdds_gateway.usecases.audit import query_audit
from cdds_gateway.usecases.errors import MAX_OFFSET
from cdds_gateway.usecases.views import AuditView

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["audit"])


@router.get(
    "/audit",
    summary="Audit events of the tenant, newest first (admins)",
    responses=responses(401, 403),
)
async def list_audit(
    deps: Deps,
    principal: AdminPrincipal,
    actor: Annotated[str | None, Query(description="username, or 'scheduler'")] = None,
    action: Annotated[
        str | None, Query(description="e.g. run.start; a trailing * matches a prefix: artifact.*")
    ] = None,
    target: Annotated[str | None, Query(description="id of a job, run, artifact …")] = None,
    since: Annotated[Moment | None, Query(description="from this moment (inclusive)")] = None,
    until: Annotated[Moment | None, Query(description="before this moment")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[AuditView]:
    """Sign-ins, certificate changes, job changes, runs, downloads and deletions of the admin's
    own tenant only."""
    return await query_audit(
        deps,
        principal,
        actor=actor,
        action=action,
        target=target,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
    )
