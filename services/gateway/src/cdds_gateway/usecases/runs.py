"""History: runs with progress, details, manifest, deletion and cloning (docs/web.md § History).

A run belongs to its owner (whose certificate seals it); an admin sees the tenant's. A deleted
run is cancelled first if it is still going, its files are deleted, and it leaves History (the
document stays, marked ``deleted_at``, for the audit trail and for the workers that may still
hold its messages).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from cdds_gateway.deps import GatewayDeps
from cdds_gateway.principal import Principal
from cdds_gateway.usecases.artifacts import remove_artifact
from cdds_gateway.usecases.audit import record
from cdds_gateway.usecases.errors import invalid, not_finished, not_found
from cdds_gateway.usecases.queue import queue_positions
from cdds_gateway.usecases.scope import read_key, scope
from cdds_gateway.usecases.views import Page, RunView
from cdds_shared.messaging.messages import RecordType
from cdds_shared.runs.lifecycle import remove_staging
from cdds_shared.runs.manifest import build_manifest
from cdds_shared.runs.model import ACTIVE, Artifact, Run, RunStatus, utcnow
from cdds_shared.scope import Scope

__all__ = [
    "RUN_SORTS",
    "delete_run",
    "get_run",
    "list_runs",
    "load_run",
    "run_manifest",
    "run_views",
]

RUN_SORTS = ("requested_at", "started_at", "finished_at", "status")
Order = Literal["asc", "desc"]


async def run_views(
    deps: GatewayDeps,
    where: Scope,
    run_ids: Sequence[str],
    titles: Mapping[str, str] | None = None,
) -> list[RunView]:
    """Views of the runs of ``run_ids`` within ``where`` (in that order; deleted ones left out),
    with progress and files; job titles from ``titles`` or looked up."""
    return await _views(deps, await deps.runs.live_runs(run_ids, where), titles)


async def _views(
    deps: GatewayDeps,
    runs: Sequence[Run],
    titles: Mapping[str, str] | None = None,
    *,
    one_by_id: bool = False,
) -> list[RunView]:
    """Views of ``runs`` in three queries whatever their number: their artifacts in
    one, their partitions in one, the job titles not given in one (none if all are given).
    ``one_by_id``: a single run's files looked up by ``_id`` (``RunStore.files_of_run``)."""
    known = dict(titles or {})
    missing = {r.job_id for r in runs if r.job_id} - known.keys()
    # Independent reads: asked for together, so a page costs the slowest of them, not the sum.
    files, looked_up = await asyncio.gather(
        _files(deps, runs, one_by_id), deps.jobs.titles(missing)
    )
    artifacts, partitions = files
    known |= looked_up
    positions = await queue_positions(deps, runs)
    now = utcnow()
    views = []
    for run in runs:
        found = artifacts.get(run.id, [])
        progress = deps.runs.progress_of(run, found, partitions.get(run.id, []), now)
        title = known.get(run.job_id) if run.job_id else None
        views.append(RunView.of(run, progress, found, title, positions.get(run.id)))
    return views


async def _files(
    deps: GatewayDeps, runs: Sequence[Run], one_by_id: bool
) -> tuple[Mapping[str, list[Artifact]], Mapping[str, list[dict[str, Any]]]]:
    """The runs' artifacts and partition documents, by run id."""
    if one_by_id and len(runs) == 1:
        artifacts, partitions = await deps.runs.files_of_run(runs[0])
        return {runs[0].id: artifacts}, {runs[0].id: partitions}
    ids = [r.id for r in runs]
    tenants = {r.tenant for r in runs}  # a page is one tenant's: its files are filtered on it
    tenant = tenants.pop() if len(tenants) == 1 else None
    artifacts, partitions = await asyncio.gather(
        deps.runs.artifacts_of_runs(ids, tenant), deps.runs.partitions_of_runs(ids)
    )
    return artifacts, partitions


async def load_run(deps: GatewayDeps, principal: Principal, run_id: str) -> Run:
    run = await deps.runs.live_run(run_id, scope(principal))
    if run is None:
        raise not_found("run", run_id)
    return run


async def list_runs(
    deps: GatewayDeps,
    principal: Principal,
    *,
    status: Sequence[RunStatus] = (),
    type: RecordType | None = None,
    job_id: str | None = None,
    owner: str | None = None,
    sort: str = "requested_at",
    order: Order = "desc",
    limit: int = 50,
    offset: int = 0,
) -> Page[RunView]:
    """History: the caller's runs (an admin: the tenant's, or ``owner``'s), newest first."""
    if sort not in RUN_SORTS:
        raise invalid(f"sort: one of {', '.join(RUN_SORTS)}")
    key = read_key(
        "runs", principal, owner, tuple(status), type, job_id, sort, order, limit, offset
    )
    return await deps.reads(
        key,
        lambda: _list_runs(
            deps, principal, status, type, job_id, owner, sort, order, limit, offset
        ),
    )


async def _list_runs(
    deps: GatewayDeps,
    principal: Principal,
    status: Sequence[RunStatus],
    type: RecordType | None,
    job_id: str | None,
    owner: str | None,
    sort: str,
    order: Order,
    limit: int,
    offset: int,
) -> Page[RunView]:
    runs, total = await deps.runs.page_of_runs(
        scope(principal, owner),
        statuses=status,
        record_type=type,
        job_id=job_id,
        sort=sort,
        descending=order == "desc",
        limit=limit,
        offset=offset,
    )
    return Page(items=await _views(deps, runs), total=total, limit=limit, offset=offset)


async def get_run(deps: GatewayDeps, principal: Principal, run_id: str) -> RunView:
    return await deps.reads(
        read_key("run", principal, None, run_id), lambda: _get_run(deps, principal, run_id)
    )


async def _get_run(deps: GatewayDeps, principal: Principal, run_id: str) -> RunView:
    run = await load_run(deps, principal, run_id)
    return (await _views(deps, [run], one_by_id=True))[0]


async def run_manifest(deps: GatewayDeps, principal: Principal, run_id: str) -> dict[str, Any]:
    """The manifest (every file with size, records and SHA-256); 409 until the run finished."""
    run = await load_run(deps, principal, run_id)
    if run.status not in ("completed", "no_data"):
        raise not_finished(f"run {run_id} is {run.status}: its manifest exists once it completed")
    return build_manifest(run, await deps.runs.artifacts(run_id))


async def delete_run(
    deps: GatewayDeps, principal: Principal, run_id: str, *, client: str | None = None
) -> None:
    """Cancel it if it is still going, delete its files, and take it out of History."""
    run = await load_run(deps, principal, run_id)
    now = utcnow()
    cancelled = False
    if run.status in ACTIVE:
        reason = f"cancelled: deleted by {principal.username}"
        ended = await deps.runs.transition(
            run.id, ACTIVE, "cancelled", error=reason, finished_at=now
        )
        cancelled = ended is not None
    # Marked before its files go, so a file sealed meanwhile is already hidden (see
    # ``deleted_runs``); a cancelled run's staged parts will never be sealed.
    await deps.runs.mark_run_deleted(run.id, by=principal.username, at=now)
    if cancelled:
        await remove_staging(deps.objects, deps.settings.minio.staging_prefix, run.id)
    removed = 0
    for artifact in await deps.runs.artifacts(run.id):
        if artifact.status != "deleted":
            await remove_artifact(deps, artifact, now)
            removed += 1
    await record(
        deps, principal, "run.delete", run.id, client=client, cancelled=cancelled, files=removed
    )
