"""`/api/v1/jobs` — jobs: add, list, edit, clone, delete, enable, run (docs/api.md § Jobs)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query, Request, Response

from cdds_gateway.deps import Deps
from cdds_gateway.security import ExporterPrincipal, client_address
from cdds_gateway.usecases import jobs, runs
from cdds_gateway.usecases.errors import MAX_OFFSET, responses
from cdds_gateway.usecases.jobs import JobCreate, JobPatch
from cdds_gateway.usecases.views import JobView, Page, RunView

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["jobs"])
DENIED = (401, 403)


@router.post(
    "/jobs",
    status_code=201,
    summary="Add a job (and, with run_now, start its first run)",
    responses=responses(*DENIED, 409, 422, 429, 503),
)
async def create_job(
    body: JobCreate, deps: Deps, principal: ExporterPrincipal, request: Request
) -> JobView:
    """With `run_now`, the answer carries `run_id`; if the run cannot start (409
    `certificate_required`, 503 `service_unavailable`) the job is not kept either."""
    return await jobs.create_job(deps, principal, body, client=client_address(request))


@router.get("/jobs", summary="The jobs, each with its latest run", responses=responses(*DENIED))
async def list_jobs(
    deps: Deps,
    principal: ExporterPrincipal,
    owner: Annotated[str | None, Query(description="admins: one user's (user id)")] = None,
    sort: Literal["created_at", "title", "next_run_at", "last_run_at"] = "created_at",
    order: Literal["asc", "desc"] = "desc",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Page[JobView]:
    """The caller's jobs; an admin sees the whole tenant's."""
    return await jobs.list_jobs(
        deps, principal, owner=owner, sort=sort, order=order, limit=limit, offset=offset
    )


@router.get("/jobs/{job_id}", summary="A job", responses=responses(*DENIED, 404))
async def get_job(job_id: str, deps: Deps, principal: ExporterPrincipal) -> JobView:
    return await jobs.get_job(deps, principal, job_id)


@router.patch("/jobs/{job_id}", summary="Edit a job", responses=responses(*DENIED, 404, 422))
async def update_job(
    job_id: str, body: JobPatch, deps: Deps, principal: ExporterPrincipal, request: Request
) -> JobView:
    """Only the given fields change (`schedule` and `timeframe` as a whole). Changing the
    schedule or `enabled` recomputes `next_run_at` from now."""
    client = client_address(request)
    return await jobs.update_job(deps, principal, job_id, body, client=client)


@router.delete(
    "/jobs/{job_id}",
    status_code=204,
    summary="Delete a job (its runs and files stay)",
    responses=responses(*DENIED, 404),
)
async def delete_job(
    job_id: str, deps: Deps, principal: ExporterPrincipal, request: Request
) -> Response:
    await jobs.delete_job(deps, principal, job_id, client=client_address(request))
    return Response(status_code=204)


@router.post(
    "/jobs/{job_id}/clone",
    status_code=201,
    summary="Copy a job (disabled, 'Copy of …'; the body may change fields)",
    responses=responses(*DENIED, 404, 422),
)
async def clone_job(
    job_id: str,
    deps: Deps,
    principal: ExporterPrincipal,
    request: Request,
    body: Annotated[JobPatch | None, Body()] = None,
) -> JobView:
    client = client_address(request)
    return await jobs.clone_job(deps, principal, job_id, body, client=client)


@router.post(
    "/jobs/{job_id}/runs",
    status_code=202,
    summary="Run a job now",
    responses=responses(*DENIED, 404, 409, 422, 429, 503),
)
async def run_job(
    job_id: str, deps: Deps, principal: ExporterPrincipal, request: Request
) -> RunView:
    """Whatever its schedule, also when disabled. The run is sealed for the job owner's
    certificate: 409 `certificate_required` without a usable one; 503 when RabbitMQ does not
    confirm the request (then no run remains)."""
    run = await jobs.run_job(deps, principal, job_id, client=client_address(request))
    return await runs.get_run(deps, principal, run.id)
