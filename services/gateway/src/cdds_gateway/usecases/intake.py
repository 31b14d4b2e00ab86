"""The intake of the public contract (docs/integration.md): a ``RequestRun`` an integration
published on ``cdds.integration.requests`` becomes a run — through the same launch as
``POST /api/v1/jobs/{id}/runs`` — or a ``run.rejected`` with a reason a person can act on.

Who asks is the AMQP ``user_id``: RabbitMQ refuses a publish whose ``user_id`` is not the
connection's user, but lets one without it through, so a request without it, or naming no active
integration, never runs. The run's id is derived from the integration and its ``request_id``: the
same request again is the same run, answered with the same ``run.accepted``.

Pure of the broker: the subscriber publishes ``answer`` and dead-letters the message with
``dead_letter`` when it is set; a ``TransientError`` (RabbitMQ or MongoDB down) is left to the
fate policy's retries.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cdds_gateway.deps import GatewayDeps
from cdds_gateway.jobs_model import DEFAULT_SPLIT_SIZE
from cdds_gateway.principal import Principal
from cdds_gateway.usecases.launch import queued_run, start
from cdds_shared.errors import CertificateRequired, ConflictError, TooManyRuns, ValidationFailed
from cdds_shared.identity.integrations import Integration, principal_name
from cdds_shared.messaging.messages import Timeframe
from cdds_shared.messaging.public import PublicEvent, PublicRequestRun, PublicRunAccepted
from cdds_shared.messaging.public_requests import RequestRefused, read_request
from cdds_shared.runs.model import utcnow
from cdds_shared.runs.public_events import public_run_accepted

__all__ = ["Intake", "request_run_id", "take_request"]


@dataclass(frozen=True)
class Intake:
    """What became of a request: the answer to publish (``None`` when nobody can be answered:
    no integration to answer to), and the reason to dead-letter it with (``None``: it ran)."""

    answer: PublicEvent | None
    dead_letter: str | None = None


def request_run_id(integration: Integration, request_id: str) -> str:
    """The run of ``request_id`` from ``integration``: the same every time it is asked."""
    key = f"{integration.id}:{request_id}".encode()
    return hashlib.blake2b(key, digest_size=12).hexdigest()


def _refused(refusal: RequestRefused, tenant: str) -> Intake:
    return Intake(refusal.event(tenant), dead_letter=refusal.reason)


async def take_request(deps: GatewayDeps, body: bytes, user_id: str | None) -> Intake:
    """Authenticate, read and start the request, or say why not."""
    integration = await deps.integrations.by_broker_user(user_id) if user_id else None
    if integration is None:
        who = f"user_id {user_id!r}" if user_id else "no user_id"
        return Intake(None, dead_letter=f"not_permitted: {who} is no active integration")
    try:
        request = read_request(body)
        if request.tenant != integration.tenant:
            raise RequestRefused(
                "tenant_mismatch",
                f"tenant {request.tenant!r}: this integration belongs to {integration.tenant!r}",
                request.request_id,
            )
        return Intake(await _start(deps, integration, request))
    except RequestRefused as refusal:
        return _refused(refusal, integration.tenant)


async def _principal(deps: GatewayDeps, integration: Integration) -> Principal:
    tenant = await deps.identity.get_tenant(integration.tenant)
    return Principal(
        integration.user_id,
        principal_name(integration.name),
        tenant.name,
        tenant.ucs_tenant_id,
        ("exporter",),
        integration=integration.name,
    )


async def _start(
    deps: GatewayDeps, integration: Integration, request: PublicRequestRun
) -> PublicRunAccepted:
    """The run of the request, started once; ``RequestRefused`` for what the launch refuses."""
    principal = await _principal(deps, integration)
    run = queued_run(
        principal,
        owner=integration.user_id,
        record_type=request.record_type,
        media_types=request.media_types,
        timeframe=Timeframe(start=request.timeframe.start, end=request.timeframe.end or utcnow()),
        split_size_bytes=request.split_size_bytes or DEFAULT_SPLIT_SIZE,
        job_id=None,
        run_id=request_run_id(integration, request.request_id),
    ).model_copy(update={"request_id": request.request_id})
    try:
        started = await start(
            deps, principal, run, owner_name=principal.username,
            actor=f"integration:{integration.name}",
        )  # fmt: skip
    except ConflictError:  # asked before: the same run, the same answer
        started = await deps.runs.get(run.id)
    except CertificateRequired as exc:
        raise RequestRefused("certificate_required", str(exc), request.request_id) from None
    except (ValidationFailed, TooManyRuns) as exc:
        raise RequestRefused("invalid", str(exc), request.request_id) from None
    return public_run_accepted(started, request.request_id)
