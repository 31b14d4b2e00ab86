"""`/api/v1/artifacts` — the sealed files: list, details, download (one, or up to 100 as one
ZIP), delete (docs/api.md § Artifacts)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from cdds_gateway.deps import Deps
from cdds_gateway.errors import responses
from cdds_gateway.security import ExporterPrincipal, client_address
from cdds_gateway.usecases import artifacts
from cdds_gateway.usecases.artifacts import MAX_ZIP_FILES, Download
from cdds_gateway.usecases.errors import MAX_OFFSET
from cdds_gateway.usecases.views import ArtifactView, Page
from cdds_shared.messaging.messages import RecordType

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["artifacts"])
DENIED = (401, 403)


class ArtifactIds(BaseModel):
    ids: list[str] = Field(
        min_length=1, max_length=MAX_ZIP_FILES, description=f"1 to {MAX_ZIP_FILES} artifact ids"
    )


class Deleted(BaseModel):
    deleted: int = Field(description="files deleted by this request")


def _answer(download: Download) -> Response:
    if download.status == 416:
        body = {"error": "range_not_satisfiable", "detail": "the range starts beyond the file"}
        return JSONResponse(body, status_code=416, headers=download.headers)
    if download.body is None:
        return Response(status_code=download.status, headers=download.headers)
    return StreamingResponse(download.body, status_code=download.status, headers=download.headers)


@router.get("/artifacts", summary="The files still available", responses=responses(*DENIED))
async def list_artifacts(
    deps: Deps,
    principal: ExporterPrincipal,
    run_id: str | None = None,
    type: Annotated[RecordType | None, Query(description="interaction or contact")] = None,
    owner: Annotated[str | None, Query(description="admins: one user's (user id)")] = None,
    sort: Literal["created", "size", "name", "expires"] = "created",
    order: Literal["asc", "desc"] = "desc",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Page[ArtifactView]:
    """The caller's files (an admin: the tenant's) that have not expired or been deleted."""
    return await artifacts.list_artifacts(
        deps,
        principal,
        run_id=run_id,
        type=type,
        owner=owner,
        sort=sort,
        order=order,
        limit=limit,
        offset=offset,
    )


@router.get(
    "/artifacts/{artifact_id}",
    summary="A file's details and remaining days",
    responses=responses(*DENIED, 404),
)
async def get_artifact(artifact_id: str, deps: Deps, principal: ExporterPrincipal) -> ArtifactView:
    """Also once expired or deleted: `status` says so."""
    return await artifacts.get_artifact(deps, principal, artifact_id)


@router.get(
    "/artifacts/{artifact_id}/content",
    summary="Download a file (Range, ETag, If-None-Match)",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/pkcs7-mime": {}}, "description": "the sealed file"},
        206: {"content": {"application/pkcs7-mime": {}}, "description": "the requested range"},
        304: {"description": "unchanged (If-None-Match holds its ETag)"},
        307: {
            "description": (
                "only with CDDS_GATEWAY__DOWNLOAD_MODE=redirect: the download was checked and "
                "audited; GET `Location` (a presigned object-store URL, usable for 60 s, no "
                "credentials) for the bytes, sending `Range` there yourself. A `Range` the "
                "gateway would ignore is answered 200 here instead"
            ),
            "headers": {
                "Location": {
                    "description": "the presigned URL of the file",
                    "schema": {"type": "string", "format": "uri"},
                }
            },
        },
        **responses(*DENIED, 404, 410, 416),
    },
)
async def download_artifact(
    artifact_id: str,
    deps: Deps,
    principal: ExporterPrincipal,
    request: Request,
    range: Annotated[str | None, Header(description="one range: bytes=a-b, a-, or -n")] = None,
    if_none_match: Annotated[str | None, Header()] = None,
    if_range: Annotated[str | None, Header()] = None,
) -> Response:
    """Streamed from object storage, or (redirect mode) a 307 to it. `ETag` is the quoted
    SHA-256 of the file. Each download is an audit event; an expired or deleted file is 410
    `gone`."""
    found = await artifacts.open_download(
        deps,
        principal,
        artifact_id,
        range_header=range,
        if_none_match=if_none_match,
        if_range=if_range,
        client=client_address(request),
    )
    return _answer(found)


@router.delete(
    "/artifacts/{artifact_id}",
    status_code=204,
    summary="Delete a file now",
    responses=responses(*DENIED, 404),
)
async def delete_artifact(
    artifact_id: str, deps: Deps, principal: ExporterPrincipal, request: Request
) -> Response:
    await artifacts.delete_artifact(deps, principal, artifact_id, client=client_address(request))
    return Response(status_code=204)


@router.post(
    "/artifacts/download",
    summary=f"Download up to {MAX_ZIP_FILES} files as one ZIP",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/zip": {}}, "description": "the files, stored"},
        **responses(*DENIED, 404, 410, 422),
    },
)
async def download_artifacts(
    body: ArtifactIds, deps: Deps, principal: ExporterPrincipal, request: Request
) -> Response:
    """A ZIP streamed as it is read, each file a stored member (already compressed and
    sealed: not compressed again). All or nothing: one unknown id is 404, one gone file 410."""
    found = await artifacts.open_zip(deps, principal, body.ids, client=client_address(request))
    return _answer(found)


@router.post(
    "/artifacts/delete",
    summary=f"Delete up to {MAX_ZIP_FILES} files",
    responses=responses(*DENIED, 404, 422),
)
async def delete_artifacts(
    body: ArtifactIds, deps: Deps, principal: ExporterPrincipal, request: Request
) -> Deleted:
    """All or nothing: one unknown id is 404 and nothing is deleted."""
    client = client_address(request)
    count = await artifacts.delete_artifacts(deps, principal, body.ids, client=client)
    return Deleted(deleted=count)
