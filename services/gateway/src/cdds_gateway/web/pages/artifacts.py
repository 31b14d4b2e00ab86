"""Artifacts (docs/web.md § Artifacts): the sealed files with the days left before they are
deleted, sorted and paged; the selected files downloaded as one ZIP or deleted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from cdds_gateway.deps import Deps, GatewayDeps
from cdds_gateway.errors import public_detail
from cdds_gateway.principal import Principal
from cdds_gateway.security import client_address
from cdds_gateway.usecases import artifacts as artifact_cases
from cdds_gateway.usecases.views import ArtifactView, Page
from cdds_gateway.web.access import exporter
from cdds_gateway.web.formatting import (
    PAGE_SIZE,
    artifact_row,
    paging,
    retention_days,
    sort_links,
)
from cdds_gateway.web.forms import csrf, read_form
from cdds_gateway.web.render import page, redirect
from cdds_shared.errors import CddsError

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


async def _listed(
    deps: GatewayDeps, principal: Principal, run_id: str, sort: str, order: str, offset: int
) -> Page[ArtifactView]:
    """One page of files (of one run, given ``run_id``); an unknown sort is by creation."""
    return await artifact_cases.list_artifacts(
        deps,
        principal,
        run_id=run_id or None,
        sort=sort if sort in artifact_cases.ARTIFACT_SORTS else "created",
        order="asc" if order == "asc" else "desc",
        limit=PAGE_SIZE,
        offset=max(0, offset),
    )


@router.get("/artifacts")
async def artifacts_page(
    request: Request,
    deps: Deps,
    run_id: str = "",
    sort: str = "created",
    order: str = "desc",
    offset: int = 0,
) -> Response:
    principal = await exporter(request)
    listed = await _listed(deps, principal, run_id, sort, order, offset)
    return page(
        request,
        "artifacts.html",
        principal,
        artifacts=[artifact_row(a) for a in listed.items],
        retention_days=retention_days(deps.settings.retention.seconds),
        paging=paging(request, listed.total, offset),
        sort_links=sort_links(request, sort, order),
    )


@router.post("/artifacts/bulk")
async def artifacts_bulk(request: Request, deps: Deps) -> Response:
    principal = await exporter(request)
    form = await read_form(request, lists=("ids",))
    csrf(request, principal, form.get("csrf_token"))
    if not form["ids"]:
        return redirect("/artifacts", flash=("warn", "Select at least one file."))
    try:
        return await _bulk(deps, principal, form, client_address(request))
    except CddsError as exc:
        return redirect("/artifacts", flash=("error", public_detail(exc)))


async def _bulk(
    deps: GatewayDeps, principal: Principal, form: dict[str, Any], client: str | None
) -> Response:
    """Delete the selected files, or stream them as one ZIP."""
    ids: list[str] = form["ids"]
    if form.get("action") == "delete":
        count = await artifact_cases.delete_artifacts(deps, principal, ids, client=client)
        return redirect("/artifacts", flash=("ok", f"{count} file(s) deleted."))
    download = await artifact_cases.open_zip(deps, principal, ids, client=client)
    return StreamingResponse(
        download.body or _empty(), status_code=download.status, headers=download.headers
    )


async def _empty() -> AsyncIterator[bytes]:
    if False:  # pragma: no cover - an empty async generator
        yield b""
