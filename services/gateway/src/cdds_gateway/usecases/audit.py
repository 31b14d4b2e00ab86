"""The audit trail of jobs, runs and files: recorded by the other use cases, read by admins."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cdds_gateway.deps import GatewayDeps
from cdds_gateway.jobs_store import as_utc
from cdds_gateway.principal import Principal
from cdds_gateway.usecases.views import AuditView
from cdds_shared.audit import AuditEvent, Outcome

__all__ = ["SCHEDULER", "query_audit", "record"]

SCHEDULER = "scheduler"
"""The actor of what the scheduler does on a user's behalf."""


async def record(
    deps: GatewayDeps,
    principal: Principal,
    action: str,
    target: str | None,
    *,
    outcome: Outcome = "success",
    actor: str | None = None,
    client: str | None = None,
    **detail: Any,
) -> None:
    await deps.audit.record(
        AuditEvent(
            tenant=principal.tenant,
            actor=actor or principal.username,
            action=action,
            target=target,
            outcome=outcome,
            detail=detail,
            client=client,
        )
    )


async def query_audit(
    deps: GatewayDeps,
    principal: Principal,
    *,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AuditView]:
    """The admin's tenant's events, newest first; ``action`` may end with ``*`` (``run.*``).
    The caller checks the admin role (``AdminPrincipal``)."""
    events = await deps.audit.find(
        tenant=principal.tenant,
        actor=actor,
        action=action,
        target=target,
        since=as_utc(since),
        until=as_utc(until),
        limit=limit,
        skip=offset,
    )
    return [AuditView.of(e) for e in events]
