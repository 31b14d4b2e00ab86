"""Clone a run (History's "clone this run"): run the same export again, or make a new job of
its parameters."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cdds_gateway.deps import GatewayDeps
from cdds_gateway.jobs_store import NOT_BLANK, JobTimeframe
from cdds_gateway.principal import Principal
from cdds_gateway.usecases.audit import record
from cdds_gateway.usecases.jobs import JobCreate, create_job
from cdds_gateway.usecases.launch import queued_run, start
from cdds_gateway.usecases.runs import get_run, load_run
from cdds_gateway.usecases.views import CloneResult
from cdds_shared.errors import NotFoundError
from cdds_shared.messaging.messages import Timeframe

__all__ = ["RunClone", "clone_run"]


class RunClone(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: Literal["run", "job"] = Field(
        "run",
        description="run: export the same again now (same job, parameters and timeframe, "
        "sealed for the same owner); job: a new job of the caller with this run's parameters",
    )
    title: str | None = Field(
        None, min_length=1, max_length=200, pattern=NOT_BLANK, description="target job"
    )
    run_now: bool = Field(False, strict=True, description="target job: start its first run at once")


async def _owner_name(deps: GatewayDeps, principal: Principal, owner: str) -> str:
    if owner == principal.user_id:
        return principal.username
    try:
        return (await deps.identity.get_user(owner)).username
    except NotFoundError:
        return owner


async def clone_run(
    deps: GatewayDeps,
    principal: Principal,
    run_id: str,
    data: RunClone,
    *,
    client: str | None = None,
) -> CloneResult:
    run = await load_run(deps, principal, run_id)
    # The same records: from the same start to where the run stopped (its frozen end).
    timeframe = Timeframe(
        start=run.timeframe.start, end=run.plan.end if run.plan else run.timeframe.end
    )
    if data.target == "job":
        titles = await deps.jobs.titles({run.job_id} if run.job_id else set())
        title = data.title or f"Copy of {titles.get(run.job_id or '', f'run {run.id}')}"
        spec = JobCreate(
            title=title[:200],
            type=run.record_type,
            media_types=run.media_types,
            timeframe=JobTimeframe(start=timeframe.start, end=timeframe.end),
            split_size_bytes=run.split_size_bytes,
            run_now=data.run_now,
        )
        job = await create_job(deps, principal, spec, client=client)
        await record(deps, principal, "run.clone", run.id, client=client, job_id=job.id)
        started = await get_run(deps, principal, job.run_id) if job.run_id else None
        return CloneResult(job=job, run=started)
    again = queued_run(
        principal,
        owner=run.owner,
        record_type=run.record_type,
        media_types=run.media_types,
        timeframe=timeframe,
        split_size_bytes=run.split_size_bytes,
        job_id=run.job_id,
    )
    owner_name = await _owner_name(deps, principal, run.owner)
    await start(deps, principal, again, owner_name=owner_name, client=client)
    await record(deps, principal, "run.clone", run.id, client=client, run_id=again.id)
    return CloneResult(run=await get_run(deps, principal, again.id))
