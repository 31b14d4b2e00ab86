"""The scheduler of recurring and one-off jobs: every ``CDDS_GATEWAY__SCHEDULER_INTERVAL_SECONDS``
each gateway replica claims the due jobs and starts their runs, as their owners.

Replica-safe: a job is claimed with a conditional ``find_one_and_update`` (a lease in
``claimed_at``/``claimed_by``), so of concurrent passes exactly one takes it. The run of an
occurrence has a deterministic id (``occurrence_run_id``), so even a pass that took over the
lease of a crashed replica cannot start that occurrence twice. Missed occurrences (the gateway
was down) are not made up: one run starts, and the next occurrence is computed from now.

- RabbitMQ unavailable → the claim is released unchanged: the job stays due for the next pass.
- The owner cannot export (no usable certificate, disabled, no ``exporter`` role) → this
  occurrence is skipped with the reason in the job's ``last_error`` and the audit log.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

from fastapi import FastAPI

from cdds_gateway.deps import GatewayDeps
from cdds_gateway.errors import ApiError
from cdds_gateway.jobs_store import Job, next_run_at
from cdds_gateway.principal import Principal
from cdds_gateway.usecases.audit import SCHEDULER, record
from cdds_gateway.usecases.jobs import start_run
from cdds_shared.errors import ConflictError, NotFoundError
from cdds_shared.logging import get_logger
from cdds_shared.runs.model import utcnow

__all__ = ["CLAIM_LEASE", "install", "run_due_jobs", "scheduler_loop"]

log = get_logger("cdds.gateway.scheduler")
CLAIM_LEASE = timedelta(minutes=2)
"""A claim older than this is presumed abandoned by a crashed replica."""
MAX_PER_PASS = 500


class _Skip(Exception):
    """This occurrence cannot run; the reason is for the job's owner."""


async def _owner(deps: GatewayDeps, job: Job) -> Principal:
    """The job's owner as they are now (the scheduler acts on their behalf)."""
    try:
        user = await deps.identity.get_user(job.owner)
        tenant = await deps.identity.get_tenant(user.tenant)
    except NotFoundError:
        raise _Skip(f"the owner {job.owner_name} no longer exists") from None
    if user.disabled or not user.has("exporter") or user.tenant != job.tenant:
        raise _Skip(f"the owner {job.owner_name} may no longer export (disabled or no access)")
    return Principal(
        user_id=user.id,
        username=user.username,
        tenant=tenant.name,
        ucs_tenant_id=tenant.ucs_tenant_id,
        roles=tuple(user.roles),
    )


async def _start(deps: GatewayDeps, job: Job, token: str, now: datetime) -> str | None:
    """Start the claimed job's occurrence; the run id, or ``None`` if it did not start.
    Raises ``ApiError`` 503 when RabbitMQ is unavailable (the claim is then released as is)."""
    assert job.next_run_at is not None
    due = job.next_run_at
    following = next_run_at(job.schedule, now)
    try:
        owner = await _owner(deps, job)
        run = await start_run(deps, owner, job, due=due, actor=SCHEDULER)
    except ConflictError:
        log.info("occurrence already started", job_id=job.id, due=due.isoformat())
        await deps.jobs.release(job, token, next_run_at=following)
        return None
    except (_Skip, ApiError) as exc:
        if isinstance(exc, ApiError) and exc.status >= 500:
            await deps.jobs.release(job, token)
            raise
        reason = exc.detail if isinstance(exc, ApiError) else str(exc)
        log.warning("scheduled run skipped", job_id=job.id, due=due.isoformat(), reason=reason)
        if isinstance(exc, _Skip):  # start_run audits its own refusals
            principal = Principal(job.owner, job.owner_name, job.tenant, 0, ())
            await record(
                deps, principal, "run.start", None, outcome="failure", actor=SCHEDULER,
                job_id=job.id, reason=reason,
            )  # fmt: skip
        skipped = f"the run due {due:%Y-%m-%d %H:%M} UTC was skipped: {reason}"
        await deps.jobs.release(job, token, next_run_at=following, last_error=skipped)
        return None
    except BaseException:
        await deps.jobs.release(job, token)
        raise
    await deps.jobs.release(job, token, next_run_at=following, last_error=None)
    log.info("scheduled run started", job_id=job.id, run_id=run.id, due=due.isoformat())
    return run.id


async def run_due_jobs(deps: GatewayDeps, now: datetime | None = None) -> list[str]:
    """One pass: start every job due at ``now``; returns the ids of the runs started. Stops at
    the first 503 (RabbitMQ down: the rest would fail alike and stay due)."""
    now = now or utcnow()
    token = uuid.uuid4().hex
    started: list[str] = []
    for _ in range(MAX_PER_PASS):
        job = await deps.jobs.claim_due(now, CLAIM_LEASE, token)
        if job is None:
            break
        try:
            run_id = await _start(deps, job, token, now)
        except ApiError as exc:
            log.warning("scheduler pass stopped", reason=exc.detail)
            break
        if run_id is not None:
            started.append(run_id)
    return started


async def scheduler_loop(deps: GatewayDeps) -> None:
    """Forever: a pass, then wait the interval. A failed pass is logged and retried."""
    interval = deps.settings.gateway.scheduler_interval_seconds
    while True:
        try:
            await run_due_jobs(deps)
        except Exception as exc:
            log.error("scheduler pass failed", error=str(exc), kind=type(exc).__name__)
        await asyncio.sleep(interval)


def install(app: FastAPI) -> None:
    """Run the scheduler in the app's lifespan (``create_app`` calls this)."""
    deps: GatewayDeps = app.state.deps

    async def loop() -> None:
        await scheduler_loop(deps)

    app.state.background.append(loop)
