"""Jobs: add, list, edit, clone, delete, enable — and start a run of one (docs/web.md § Jobs).

A job belongs to the user who created it (a clone to whoever cloned it); its runs are sealed
for the owner's certificate, whoever starts them (the owner, a tenant admin, the scheduler).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError
from pydantic.json_schema import SkipJsonSchema

from cdds_gateway.deps import GatewayDeps
from cdds_gateway.jobs_store import (
    MAX_SPLIT_SIZE,
    MEDIA_NAME,
    MIN_SPLIT_SIZE,
    NOT_BLANK,
    Job,
    JobSpec,
    JobTimeframe,
    Schedule,
    next_run_at,
    run_timeframe,
)
from cdds_gateway.principal import Principal
from cdds_gateway.usecases.audit import record
from cdds_gateway.usecases.errors import invalid, invalid_from, not_found
from cdds_gateway.usecases.launch import occurrence_run_id, queued_run, start
from cdds_gateway.usecases.runs import run_views
from cdds_gateway.usecases.scope import scope
from cdds_gateway.usecases.views import JobView, Page
from cdds_shared.messaging.messages import RecordType
from cdds_shared.runs.model import Run, utcnow
from cdds_shared.scope import Scope

__all__ = [
    "JOB_SORTS",
    "JobCreate",
    "JobPatch",
    "clone_job",
    "create_job",
    "delete_job",
    "get_job",
    "list_jobs",
    "load_job",
    "run_job",
    "set_enabled",
    "start_run",
    "update_job",
]

JOB_SORTS = ("created_at", "title", "next_run_at", "last_run_at")
Order = Literal["asc", "desc"]
Unset = SkipJsonSchema[None]
"""A field's default when absent; null is not part of its JSON Schema."""


class JobCreate(JobSpec):
    run_now: bool = Field(
        False, strict=True, description="start a run at once (the answer carries its run_id)"
    )


class JobPatch(BaseModel):
    """Fields to change; absent ones keep their value. `schedule` and `timeframe` are replaced
    as a whole; `media_types: null` means all (no other field may be null)."""

    model_config = ConfigDict(extra="forbid")

    # The constraints are JobSpec's. A null is absent from the JSON Schema (``Unset``) and
    # refused when the result is checked as a job (``_spec``), but for media_types.

    title: Annotated[str, Field(min_length=1, max_length=200, pattern=NOT_BLANK)] | Unset = None
    description: Annotated[str, Field(max_length=2000)] | Unset = None
    source: Literal["contact_history"] | Unset = None
    type: RecordType | Unset = None
    media_types: list[str] | None = Field(
        None,
        min_length=1,
        max_length=50,
        json_schema_extra={"items": {"type": "string", "pattern": MEDIA_NAME}},
    )
    schedule: Schedule | Unset = None
    timeframe: JobTimeframe | Unset = None
    split_size_bytes: Annotated[StrictInt, Field(ge=MIN_SPLIT_SIZE, le=MAX_SPLIT_SIZE)] | Unset = (
        None
    )
    enabled: StrictBool | Unset = None


def _spec(data: dict[str, Any]) -> JobSpec:
    try:
        return JobSpec.model_validate(data)
    except ValidationError as exc:
        raise invalid_from(exc) from None


def _schedule_checked(spec: JobSpec, now: datetime) -> JobSpec:
    if spec.enabled and spec.schedule.kind == "once":
        assert spec.schedule.at is not None
        if spec.schedule.at <= now:
            raise invalid(f"schedule.at: {spec.schedule.at.isoformat()} has passed")
    return spec


def _next(spec: JobSpec, now: datetime) -> datetime | None:
    return next_run_at(spec.schedule, now) if spec.enabled else None


async def load_job(deps: GatewayDeps, principal: Principal, job_id: str) -> Job:
    job = await deps.jobs.get(job_id, scope(principal))
    if job is None:
        raise not_found("job", job_id)
    return job


async def _view(deps: GatewayDeps, job: Job, run_id: str | None = None) -> JobView:
    latest = None
    if job.last_run_id is not None:
        found = await run_views(deps, Scope(job.tenant), [job.last_run_id], {job.id: job.title})
        latest = found[0] if found else None
    return JobView.of(job, latest, run_id)


async def _insert(
    deps: GatewayDeps, principal: Principal, spec: JobSpec, *, run_now: bool, client: str | None
) -> JobView:
    now = utcnow()
    _schedule_checked(spec, now)
    job = Job(
        id=uuid.uuid4().hex,
        tenant=principal.tenant,
        owner=principal.user_id,
        owner_name=principal.username,
        created_at=now,
        updated_at=now,
        next_run_at=_next(spec, now),
        **spec.model_dump(),
    )
    await deps.jobs.insert(job)
    run_id = None
    if run_now:
        try:
            run_id = (await start_run(deps, principal, job, client=client)).id
        except Exception:
            await deps.jobs.delete(job.id, Scope(job.tenant))  # nothing half-created
            raise
        job = await load_job(deps, principal, job.id)
    await record(deps, principal, "job.create", job.id, client=client, title=job.title)
    return await _view(deps, job, run_id)


async def create_job(
    deps: GatewayDeps, principal: Principal, data: JobCreate, *, client: str | None = None
) -> JobView:
    """A new job of the caller; with ``run_now`` its first run is started too, and if that is
    refused (409 certificate, 503 broker) the job is not kept either."""
    spec = _spec(data.model_dump(exclude={"run_now"}))
    return await _insert(deps, principal, spec, run_now=data.run_now, client=client)


async def list_jobs(
    deps: GatewayDeps,
    principal: Principal,
    *,
    owner: str | None = None,
    sort: str = "created_at",
    order: Order = "desc",
    limit: int = 100,
    offset: int = 0,
) -> Page[JobView]:
    """The caller's jobs (an admin: the tenant's, or ``owner``'s), each with its latest run."""
    if sort not in JOB_SORTS:
        raise invalid(f"sort: one of {', '.join(JOB_SORTS)}")
    where = scope(principal, owner)
    direction = 1 if order == "asc" else -1
    jobs = await deps.jobs.find(
        where, sort=[(sort, direction), ("_id", direction)], limit=limit, skip=offset
    )
    latest_ids = [j.last_run_id for j in jobs if j.last_run_id]
    titles = {j.id: j.title for j in jobs}
    latest = {r.id: r for r in await run_views(deps, where, latest_ids, titles)}
    items = [JobView.of(j, latest.get(j.last_run_id or "")) for j in jobs]
    return Page(items=items, total=await deps.jobs.count(where), limit=limit, offset=offset)


async def get_job(deps: GatewayDeps, principal: Principal, job_id: str) -> JobView:
    return await _view(deps, await load_job(deps, principal, job_id))


async def update_job(
    deps: GatewayDeps,
    principal: Principal,
    job_id: str,
    patch: JobPatch,
    *,
    client: str | None = None,
) -> JobView:
    """PATCH: the given fields replace the job's; the result must be a valid job (422)."""
    job = await load_job(deps, principal, job_id)
    changes = patch.model_dump(exclude_unset=True)
    spec = _spec({**job.spec().model_dump(), **changes})
    now = utcnow()
    values: dict[str, Any] = {**spec.model_dump(), "updated_at": now}
    if {"schedule", "enabled"} & changes.keys():
        _schedule_checked(spec, now)
        values |= {"next_run_at": _next(spec, now), "last_error": None}
    updated = await deps.jobs.update(job.id, scope(principal), values)
    if updated is None:
        raise not_found("job", job_id)
    await record(deps, principal, "job.update", job.id, client=client, fields=sorted(changes))
    return await _view(deps, updated)


async def set_enabled(
    deps: GatewayDeps,
    principal: Principal,
    job_id: str,
    enabled: bool,
    *,
    client: str | None = None,
) -> JobView:
    """Enable (the next occurrence is computed from now: missed ones are not made up) or
    disable (the scheduler leaves it alone; it can still be started by hand)."""
    return await update_job(deps, principal, job_id, JobPatch(enabled=enabled), client=client)


async def delete_job(
    deps: GatewayDeps, principal: Principal, job_id: str, *, client: str | None = None
) -> None:
    """Its runs and files stay in History and Artifacts (delete those there)."""
    job = await load_job(deps, principal, job_id)
    if not await deps.jobs.delete(job.id, scope(principal)):
        raise not_found("job", job_id)
    await record(deps, principal, "job.delete", job.id, client=client, title=job.title)


async def clone_job(
    deps: GatewayDeps,
    principal: Principal,
    job_id: str,
    patch: JobPatch | None = None,
    *,
    client: str | None = None,
) -> JobView:
    """A copy owned by the caller, titled "Copy of …" and disabled unless ``patch`` says
    otherwise (so that a recurring job does not start running twice as often)."""
    job = await load_job(deps, principal, job_id)
    base = job.spec().model_dump()
    base |= {"title": f"Copy of {job.title}"[:200], "enabled": False}
    spec = _spec({**base, **(patch.model_dump(exclude_unset=True) if patch else {})})
    view = await _insert(deps, principal, spec, run_now=False, client=client)
    await record(deps, principal, "job.clone", view.id, client=client, source_job=job.id)
    return view


async def start_run(
    deps: GatewayDeps,
    principal: Principal,
    job: Job,
    *,
    due: datetime | None = None,
    actor: str | None = None,
    client: str | None = None,
) -> Run:
    """Start a run of ``job`` now (``due``: the scheduled occurrence it is for). The run is
    sealed for the job's owner. See ``launch`` for the refusals."""
    end = due or utcnow()
    previous = (
        await deps.jobs.previous_end(job.id) if job.timeframe.kind == "since_previous" else None
    )
    timeframe = run_timeframe(job.timeframe, end=end, previous_end=previous)
    if timeframe.start and timeframe.end and timeframe.start >= timeframe.end:
        raise invalid("nothing new to export: the previous run already reaches this moment")
    run = queued_run(
        principal,
        owner=job.owner,
        record_type=job.type,
        media_types=job.media_types,
        timeframe=timeframe,
        split_size_bytes=job.split_size_bytes,
        job_id=job.id,
        run_id=occurrence_run_id(job.id, due) if due else None,
    )
    return await start(deps, principal, run, owner_name=job.owner_name, actor=actor, client=client)


async def run_job(
    deps: GatewayDeps, principal: Principal, job_id: str, *, client: str | None = None
) -> Run:
    """Start a run of the job now, whatever its schedule and even when disabled."""
    return await start_run(deps, principal, await load_job(deps, principal, job_id), client=client)
