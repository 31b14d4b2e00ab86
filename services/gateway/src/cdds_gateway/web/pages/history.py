"""History (docs/web.md § History): the runs with their progress, filtered, sorted and paged,
updated in place while one is still going; a run's actions (delete, start again)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cdds_gateway.deps import Deps, GatewayDeps
from cdds_gateway.errors import ApiError
from cdds_gateway.principal import Principal
from cdds_gateway.security import client_address
from cdds_gateway.usecases import runs as run_cases
from cdds_gateway.usecases.clones import RunClone, clone_run
from cdds_gateway.usecases.views import Page, RunView
from cdds_gateway.web.access import back_with, exporter
from cdds_gateway.web.formatting import PAGE_SIZE, live, paging, run_row
from cdds_gateway.web.forms import Text, csrf
from cdds_gateway.web.render import page, redirect
from cdds_shared.errors import CddsError

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
HISTORY_SORTS = ("requested_at", "started_at")
RECORD_TYPES = ("interaction", "contact")


async def _listed(
    deps: GatewayDeps, principal: Principal, status: str, type: str, sort: str, offset: int
) -> Page[RunView]:
    """One page of runs; a filter or sort the page does not offer is ignored."""
    return await run_cases.list_runs(
        deps,
        principal,
        status=[status] if status else (),  # type: ignore[list-item]
        type=type if type in RECORD_TYPES else None,  # type: ignore[arg-type]
        sort=sort if sort in HISTORY_SORTS else "requested_at",
        limit=PAGE_SIZE,
        offset=max(0, offset),
    )


@router.get("/history")
async def history_page(
    request: Request,
    deps: Deps,
    status: str = "",
    type: str = "",
    sort: str = "requested_at",
    offset: int = 0,
) -> Response:
    principal = await exporter(request)
    listed = await _listed(deps, principal, status, type, sort, offset)
    rows = [run_row(r) for r in listed.items]
    return page(
        request,
        "history.html",
        principal,
        runs=rows,
        live=live(rows),
        filters={"status": status, "type": type, "sort": sort},
        paging=paging(request, listed.total, offset),
    )


async def _delete(
    deps: GatewayDeps, principal: Principal, run_id: str, client: str | None
) -> Response:
    await run_cases.delete_run(deps, principal, run_id, client=client)
    return redirect("/history", flash=("ok", "Run and its files deleted."))


async def _again(
    deps: GatewayDeps, principal: Principal, run_id: str, client: str | None
) -> Response:
    await clone_run(deps, principal, run_id, RunClone(target="run"), client=client)
    return redirect("/history", flash=("ok", "Export started again."))


RunAction = Callable[[GatewayDeps, Principal, str, str | None], Awaitable[Response]]
RUN_ACTIONS: dict[str, RunAction] = {"delete": _delete, "clone": _again}


@router.post("/history/{run_id}/{action}")
async def run_action(
    request: Request, deps: Deps, run_id: str, action: str, csrf_token: Text = ""
) -> Response:
    principal = await exporter(request)
    csrf(request, principal, csrf_token)
    act = RUN_ACTIONS.get(action)
    if act is None:
        raise ApiError(404, "not_found", f"no action {action}")
    try:
        return await act(deps, principal, run_id, client_address(request))
    except CddsError as exc:
        return back_with(exc, "/history")
