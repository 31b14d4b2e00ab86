"""The exporter trusts only what it can check (docs/pipeline.md, planning: the trust check).

Anyone who can publish on ``cdds.events`` can send a ``RunRequested``; what it names (tenant, UCS
tenant, owner) decides whose contact history is read and who may download it. So a request starts
work only for a run document the gateway created whose fields the message repeats, owned by an
enabled exporter of that tenant, and whose UCS tenant is the one stored for the tenant. Anything
else is refused before UCS is read: an audit event, then ``ForgedMessage`` (dead-lettered; the run
it names, if any, is left alone).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime

from cdds_shared.audit import AuditEvent, AuditLog
from cdds_shared.errors import ConflictError, ForgedMessage, NotFoundError
from cdds_shared.identity import IdentityStore
from cdds_shared.identity.model import Tenant, User
from cdds_shared.logging import get_logger
from cdds_shared.messaging.messages import RunRequested, Timeframe
from cdds_shared.ports.documents import DocumentStore
from cdds_shared.runs.model import GATEWAY, Run, to_millis
from cdds_shared.runs.store import RunStore

__all__ = ["REFUSED", "Evidence", "refusal", "trusted_run"]

log = get_logger("cdds.exporter")
REFUSED = "run.request_refused"
"""The audit action of a refused ``RunRequested``."""
ACTOR = "exporter"
COMPARED = ("tenant", "ucs_tenant_id", "owner", "record_type", "media_types", "split_size_bytes")


@dataclass(frozen=True)
class Evidence:
    """What the exporter found for a request: the run, its tenant and owner (None: missing)."""

    run: Run | None
    tenant: Tenant | None
    owner: User | None


def _moment(value: datetime | None) -> datetime | None:
    # The document store keeps milliseconds; the message may carry microseconds.
    return None if value is None else to_millis(value)


def _same_timeframe(a: Timeframe, b: Timeframe) -> bool:
    return (_moment(a.start), _moment(a.end)) == (_moment(b.start), _moment(b.end))


def refusal(request: RunRequested, found: Evidence) -> str | None:
    """Why ``request`` may not start work, or ``None`` when everything it claims checks out."""
    run, tenant, owner = found.run, found.tenant, found.owner
    if run is None:
        return f"no run {request.run_id}: the gateway never created it"
    if run.created_by != GATEWAY:
        return f"run {run.id} was not created by the gateway"
    differ = [f for f in COMPARED if getattr(request, f) != getattr(run, f)]
    if not _same_timeframe(request.timeframe, run.timeframe):
        differ.append("timeframe")
    if differ:
        return f"the request differs from run {run.id} in {', '.join(differ)}"
    if tenant is None:
        return f"tenant {run.tenant!r} of run {run.id} does not exist"
    if tenant.ucs_tenant_id != run.ucs_tenant_id:
        return f"UCS tenant {run.ucs_tenant_id} is not the one of tenant {tenant.name!r}"
    if owner is None or owner.tenant != run.tenant:
        return f"owner {run.owner} is not a user of tenant {run.tenant!r}"
    if owner.disabled:
        return f"owner {run.owner} is disabled"
    if not owner.has("exporter"):
        return f"owner {run.owner} does not have the exporter role"
    return None


async def _evidence(request: RunRequested, runs: RunStore, identity: IdentityStore) -> Evidence:
    try:
        run = await runs.get(request.run_id)
    except NotFoundError:
        return Evidence(None, None, None)
    tenant = await identity.find_tenant(run.tenant)
    try:
        owner: User | None = await identity.get_user(run.owner)
    except NotFoundError:
        owner = None
    return Evidence(run, tenant, owner)


async def trusted_run(request: RunRequested, documents: DocumentStore) -> Run:
    """The run ``request`` names, once everything it claims checks out; otherwise an audit event
    and ``ForgedMessage``."""
    found = await _evidence(request, RunStore(documents), IdentityStore(documents))
    reason = refusal(request, found)
    if reason is None:
        assert found.run is not None
        return found.run
    log.warning("RunRequested refused", run_id=request.run_id, reason=reason)
    event = AuditEvent(
        # One event per message, however often it is delivered.
        id=f"refused-{request.message_id}",
        # The attacked run's tenant when the run exists; else the tenant the message claims.
        tenant=found.run.tenant if found.run else request.tenant,
        actor=ACTOR,
        action=REFUSED,
        target=request.run_id,
        outcome="failure",
        detail={
            "reason": reason,
            "message_id": str(request.message_id),
            "claimed_tenant": request.tenant,
            "claimed_ucs_tenant_id": request.ucs_tenant_id,
            "claimed_owner": request.owner,
        },
    )
    with contextlib.suppress(ConflictError):  # recorded by an earlier delivery
        await AuditLog(documents).record(event)
    raise ForgedMessage(f"RunRequested for run {request.run_id} refused: {reason}")
