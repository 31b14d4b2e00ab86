"""User preferences (docs/web.md): the certificate files are sealed for (its details, an
upload replacing it) and the sealing preference. The upload is read as the REST API reads it
(``cdds_gateway/uploads.py``) and stored by the same use case."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cdds_gateway.deps import Deps
from cdds_gateway.security import client_address
from cdds_gateway.uploads import read_upload
from cdds_gateway.usecases import me as me_cases
from cdds_gateway.web.access import exporter
from cdds_gateway.web.formatting import certificate_view
from cdds_gateway.web.forms import Text, csrf, seal_mode_of
from cdds_gateway.web.render import page, redirect
from cdds_shared.errors import ValidationFailed

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/preferences")
async def preferences(request: Request, deps: Deps) -> Response:
    principal = await exporter(request)
    details = await me_cases.certificate_on_file(deps, principal)
    return page(request, "preferences.html", principal, certificate=certificate_view(details))


@router.post("/preferences/seal-mode")
async def change_seal_mode(
    request: Request, deps: Deps, seal_mode: Text = "gcm", csrf_token: Text = ""
) -> Response:
    principal = await exporter(request)
    csrf(request, principal, csrf_token)
    mode = seal_mode_of(seal_mode)
    await me_cases.store_seal_mode(deps, principal, mode, client=client_address(request))
    return redirect("/preferences", flash=("ok", "Sealing preference saved."))


@router.post("/preferences/certificate")
async def upload_certificate(request: Request, deps: Deps) -> Response:
    principal = await exporter(request)
    try:
        upload = await read_upload(request, deps.settings.gateway.certificate_max_bytes)
        csrf(request, principal, upload.fields.get("csrf_token"))
        await me_cases.upload_certificate(
            deps, principal, upload.data, client=client_address(request)
        )
    except ValidationFailed as exc:
        return redirect("/preferences", flash=("error", f"Certificate refused: {exc}"))
    return redirect("/preferences", flash=("ok", "Certificate saved."))
