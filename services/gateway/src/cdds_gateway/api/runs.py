"""`/api/v1/runs` — History: runs with progress, details, manifest, delete, clone (docs/api.md)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request, Response

from cdds_gateway.deps import Deps
from cdds_gateway.security import ExporterPrincipal, client_address
from cdds_gateway.usecases import clones, runs
from cdds_gateway.usecases.clones import RunClone
from cdds_gateway.usecases.errors import MAX_OFFSET, responses
from cdds_gateway.usecases.views import CloneResult, Page, RunView
from cdds_shared.messaging.messages import RecordType
from cdds_shared.runs.model import RunStatus

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["runs"])
DENIED = (401, 403)


@router.get("/runs", summary="History: the runs, newest first", responses=responses(*DENIED))
async def list_runs(
    deps: Deps,
    principal: ExporterPrincipal,
    status: Annotated[list[RunStatus] | None, Query(description="any of these")] = None,
    type: Annotated[RecordType | None, Query(description="interaction or contact")] = None,
    job_id: str | None = None,
    owner: Annotated[str | None, Query(description="admins: one user's (user id)")] = None,
    sort: Literal["requested_at", "started_at", "finished_at", "status"] = "requested_at",
    order: Literal["asc", "desc"] = "desc",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Page[RunView]:
    """The caller's runs; an admin sees the whole tenant's."""
    return await runs.list_runs(
        deps,
        principal,
        status=status or (),
        type=type,
        job_id=job_id,
        owner=owner,
        sort=sort,
        order=order,
        limit=limit,
        offset=offset,
    )


@router.get(
    "/runs/{run_id}",
    summary="A run: status, progress with time left, error, files",
    responses=responses(*DENIED, 404),
)
async def get_run(run_id: str, deps: Deps, principal: ExporterPrincipal) -> RunView:
    return await runs.get_run(deps, principal, run_id)


@router.get(
    "/runs/{run_id}/manifest",
    summary="The manifest of a finished run (every file's size, records and SHA-256)",
    responses=responses(*DENIED, 404, 409),
)
async def get_manifest(run_id: str, deps: Deps, principal: ExporterPrincipal) -> dict[str, Any]:
    """Schema: docs/schemas/manifest.schema.json. 409 `not_finished` until it completed."""
    return await runs.run_manifest(deps, principal, run_id)


@router.delete(
    "/runs/{run_id}",
    status_code=204,
    summary="Delete a run: cancel it if going, delete its files",
    responses=responses(*DENIED, 404),
)
async def delete_run(
    run_id: str, deps: Deps, principal: ExporterPrincipal, request: Request
) -> Response:
    await runs.delete_run(deps, principal, run_id, client=client_address(request))
    return Response(status_code=204)


@router.post(
    "/runs/{run_id}/clone",
    status_code=201,
    summary="Clone a run: export the same again, or a new job of its parameters",
    responses=responses(*DENIED, 404, 409, 422, 429, 503),
)
async def clone_run(
    run_id: str,
    deps: Deps,
    principal: ExporterPrincipal,
    request: Request,
    body: Annotated[RunClone | None, Body()] = None,
) -> CloneResult:
    """`target: run` (default) starts a run with the same parameters and timeframe (409/503 as
    for any start); `target: job` creates a job of the caller from them."""
    client = client_address(request)
    return await clones.clone_run(deps, principal, run_id, body or RunClone(), client=client)
