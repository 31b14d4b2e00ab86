"""Starting a run: refuse without a usable certificate, then ``request_run``: the run document
marked as the gateway's, ``RunRequested`` with publisher confirms — and if RabbitMQ does not
confirm, the run removed again, so that nothing half-created remains."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

from cdds_gateway.deps import GatewayDeps
from cdds_gateway.principal import Principal
from cdds_gateway.usecases.audit import record
from cdds_gateway.usecases.backlog import check_backlog
from cdds_gateway.usecases.errors import certificate_required, service_unavailable
from cdds_shared.audit import Outcome
from cdds_shared.certificates import CertificateUnusable, usable_certificate
from cdds_shared.errors import CertificateRequired, TooManyRuns
from cdds_shared.logging import get_logger
from cdds_shared.messaging.messages import RecordType, Timeframe
from cdds_shared.runs.model import Run, utcnow
from cdds_shared.runs.requesting import PUBLISH_TIMEOUT, RequestNotConfirmed, request_run

__all__ = [
    "PUBLISH_TIMEOUT",
    "check_certificate",
    "launch",
    "new_run_id",
    "occurrence_run_id",
    "queued_run",
    "start",
]

log = get_logger("cdds.gateway.runs")


def new_run_id() -> str:
    return uuid.uuid4().hex[:24]


def occurrence_run_id(job_id: str, due: datetime) -> str:
    """The id of a job's scheduled occurrence: deterministic, so a scheduler replica that
    retries an occurrence another one started cannot start it twice."""
    key = f"{job_id}@{due.isoformat()}".encode()
    return hashlib.blake2b(key, digest_size=12).hexdigest()


def queued_run(
    principal: Principal,
    *,
    owner: str,
    record_type: RecordType,
    media_types: list[str] | None,
    timeframe: Timeframe,
    split_size_bytes: int,
    job_id: str | None,
    run_id: str | None = None,
) -> Run:
    """A new run of the caller's tenant, ``queued`` and requested now, sealed for ``owner``."""
    return Run(
        id=run_id or new_run_id(),
        tenant=principal.tenant,
        ucs_tenant_id=principal.ucs_tenant_id,
        owner=owner,
        record_type=record_type,
        media_types=media_types,
        timeframe=timeframe,
        split_size_bytes=split_size_bytes,
        status="queued",
        requested_at=utcnow(),
        job_id=job_id,
    )


async def check_certificate(deps: GatewayDeps, owner: str, owner_name: str) -> None:
    """409 ``certificate_required`` unless ``owner`` has a certificate that can seal now."""
    try:
        await usable_certificate(deps.certificates, owner)
    except CertificateUnusable as exc:
        raise certificate_required(
            str(exc).replace(f"user {owner}", f"user {owner_name}")
        ) from None


async def launch(
    deps: GatewayDeps,
    principal: Principal,
    run: Run,
    *,
    owner_name: str,
    actor: str | None = None,
    client: str | None = None,
) -> Run:
    """Start ``run`` (status ``queued``) for its owner. Raises 409 ``certificate_required``, 429
    ``too_many_runs`` (``backlog.py``), 503 ``service_unavailable`` (nothing remains), or
    ``ConflictError`` when a run of that id exists (a scheduled occurrence already started)."""

    async def audit(outcome: Outcome = "success", **detail: str) -> None:
        await record(
            deps, principal, "run.start", run.id, outcome=outcome, actor=actor, client=client,
            job_id=run.job_id, owner=run.owner, **detail,
        )  # fmt: skip

    try:
        await check_certificate(deps, run.owner, owner_name)
        await check_backlog(deps, run, actor)  # 429 beyond the user's queued-run cap
    except (CertificateRequired, TooManyRuns) as exc:
        await audit("failure", reason=str(exc))
        raise
    try:
        run = await request_run(deps.runs, deps.publish, run, timeout=PUBLISH_TIMEOUT)
    except RequestNotConfirmed as exc:
        error = f"{type(exc.cause).__name__}: {exc.cause}"
        log.warning("run not started: RabbitMQ did not confirm", run_id=run.id, error=error)
        await audit("failure", reason=f"RabbitMQ did not confirm: {type(exc.cause).__name__}")
        raise service_unavailable() from None
    deps.metrics.runs.started.inc()
    await audit()
    log.info("run requested", run_id=run.id, job_id=run.job_id, owner=run.owner)
    return run


async def start(
    deps: GatewayDeps,
    principal: Principal,
    run: Run,
    *,
    owner_name: str,
    actor: str | None = None,
    client: str | None = None,
) -> Run:
    """``launch`` the run and, if it is a job's, record it as the job's latest run."""
    launched = await launch(deps, principal, run, owner_name=owner_name, actor=actor, client=client)
    if run.job_id:
        await deps.jobs.record_run(run.job_id, run.tenant, run.id, run.requested_at)
    return launched
