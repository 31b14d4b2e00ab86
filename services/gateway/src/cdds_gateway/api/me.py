"""`/api/v1/me` — the signed-in user, their password, certificate and preferences (docs/api.md).

``GET /me``, ``POST /me/password`` (and sign-out) answer a user who signed in with a one-time
password; everything else refuses them (403 ``password_change_required``) until they changed it.

The certificate upload is the raw file (PEM or DER, any content type) or a multipart form with
the file in ``file`` (``cdds_gateway/uploads.py``); the use cases are in ``usecases/me.py``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from cdds_gateway.deps import Deps
from cdds_gateway.errors import responses
from cdds_gateway.security import (
    CurrentPrincipal,
    ExporterPrincipal,
    SignedInPrincipal,
    client_address,
)
from cdds_gateway.uploads import read_upload
from cdds_gateway.usecases import me
from cdds_gateway.usecases.me import CertificateDetails, Me, Preferences
from cdds_gateway.usecases.passwords import change_password
from cdds_gateway.usecases.user_views import PasswordChange
from cdds_shared.errors import ValidationFailed

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["me"])


@router.get("/me", summary="The signed-in user", response_model=Me, responses=responses(401))
async def get_me(principal: SignedInPrincipal, deps: Deps) -> Me:
    return await me.about_me(deps, principal)


@router.post(
    "/me/password",
    summary="Change the password (a one-time one too); the user's other sessions end",
    status_code=204,
    response_class=Response,
    responses=responses(401, 403, 409, 422),
)
async def change_my_password(
    body: PasswordChange, request: Request, principal: SignedInPrincipal, deps: Deps
) -> Response:
    await change_password(
        deps, principal, body.current_password, body.new_password, client=client_address(request)
    )
    return Response(status_code=204)


@router.get(
    "/me/certificate",
    summary="The certificate files are sealed for",
    response_model=CertificateDetails,
    responses=responses(401, 403, 404),
)
async def get_certificate(principal: ExporterPrincipal, deps: Deps) -> CertificateDetails:
    return await me.my_certificate(deps, principal)


@router.put(
    "/me/certificate",
    summary="Upload (replace) the certificate: the PEM or DER file as the body, or a multipart "
    "form with the file in `file`",
    response_model=CertificateDetails,
    responses=responses(401, 403, 413, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-pem-file": {"schema": {"type": "string"}},
                "application/pkix-cert": {"schema": {"type": "string", "format": "binary"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                        "required": ["file"],
                    }
                },
            },
        }
    },
)
async def upload_certificate(
    request: Request, principal: ExporterPrincipal, deps: Deps
) -> CertificateDetails:
    client = client_address(request)
    try:
        upload = await read_upload(request, deps.settings.gateway.certificate_max_bytes)
    except ValidationFailed as exc:
        raise await me.refuse_upload(deps, principal, exc, client=client) from None
    return await me.upload_certificate(deps, principal, upload.data, client=client)


@router.get(
    "/me/preferences",
    summary="The user's preferences",
    response_model=Preferences,
    responses=responses(401),
)
async def get_preferences(principal: CurrentPrincipal, deps: Deps) -> Preferences:
    return await me.my_preferences(deps, principal)


@router.put(
    "/me/preferences",
    summary="Change the user's preferences",
    response_model=Preferences,
    responses=responses(401, 403, 422),
)
async def update_preferences(
    body: Preferences, request: Request, principal: ExporterPrincipal, deps: Deps
) -> Preferences:
    await me.store_seal_mode(deps, principal, body.seal_mode, client=client_address(request))
    return body
