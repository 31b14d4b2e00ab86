"""`/api/v1/me` — the signed-in user, their certificate and preferences (docs/api.md § Me).

The certificate upload is the raw file (PEM or DER, any content type) or a multipart form with
the file in ``file``. At most ``certificate_max_bytes`` are read, whatever the client claims.
The web pages reuse :func:`read_upload`, :func:`store_certificate` and :func:`certificate_details`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException
from starlette.types import Message

from cdds_gateway.deps import Deps, GatewayDeps
from cdds_gateway.errors import ApiError
from cdds_gateway.principal import Principal
from cdds_gateway.security import CurrentPrincipal, ExporterPrincipal, client_address
from cdds_shared.audit import AuditEvent
from cdds_shared.certificates import CertificateRecord, validate_certificate
from cdds_shared.errors import ValidationFailed
from cdds_shared.identity import Role, SealMode
from cdds_shared.runs.model import utcnow

__all__ = [
    "EXPIRING_SOON",
    "CertificateDetails",
    "Me",
    "Preferences",
    "Upload",
    "UploadTooLarge",
    "certificate_details",
    "read_upload",
    "record_refusal",
    "router",
    "store_certificate",
]

router = APIRouter(prefix="/api/v1", tags=["me"])

EXPIRING_SOON = timedelta(days=30)
MULTIPART_OVERHEAD = 16 * 1024  # boundaries, part headers and a csrf_token field
NO_CERTIFICATE = "upload one in User preferences"


class CertificateDetails(BaseModel):
    subject: str
    issuer: str
    serial: str = Field(description="hexadecimal")
    sha256: str = Field(description="SHA-256 fingerprint of the DER, lower-case hex")
    not_before: datetime
    not_after: datetime
    expires_in_days: int = Field(description="whole days left (0 when expired)")
    expiring_soon: bool = Field(description="still valid, but for 30 days or less")
    expired: bool
    seal_mode: SealMode
    uploaded_at: datetime


class Preferences(BaseModel):
    seal_mode: SealMode = Field(
        description="gcm: CMS AuthEnvelopedData (openssl cms); legacy-cbc: EnvelopedData with "
        "AES-256-CBC (openssl smime)"
    )


class Me(BaseModel):
    user_id: str
    username: str
    tenant: str
    roles: list[Role]
    certificate: CertificateDetails | None
    preferences: Preferences


class UploadTooLarge(ValidationFailed):
    code = "too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"the certificate file is larger than {limit} bytes")


@dataclass(frozen=True)
class Upload:
    data: bytes
    fields: dict[str, str]
    """The other text fields of a multipart form (e.g. ``csrf_token``); empty for a raw body."""


def certificate_details(
    record: CertificateRecord, now: datetime | None = None
) -> CertificateDetails:
    left = record.not_after - (now or utcnow())
    expired = left <= timedelta(0)
    return CertificateDetails(
        subject=record.subject,
        issuer=record.issuer,
        serial=record.serial,
        sha256=record.sha256,
        not_before=record.not_before,
        not_after=record.not_after,
        expires_in_days=0 if expired else left // timedelta(days=1),
        expiring_soon=not expired and left <= EXPIRING_SOON,
        expired=expired,
        seal_mode=record.seal_mode,
        uploaded_at=record.uploaded_at,
    )


async def read_upload(request: Request, limit: int, field: str = "file") -> Upload:
    """The uploaded file: the raw body, or the ``field`` file of a multipart form.

    Reads at most ``limit`` bytes (plus room for the form's framing) before refusing.

    Raises:
        UploadTooLarge: more than ``limit`` bytes (declared or sent).
        ValidationFailed: a multipart form that cannot be read or has no ``field``.
    """
    content_type = request.headers.get("content-type", "").lower()
    multipart = content_type.startswith("multipart/form-data")
    cap = limit + MULTIPART_OVERHEAD if multipart else limit
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise UploadTooLarge(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > cap:
            raise UploadTooLarge(limit)
    if not multipart:
        return Upload(bytes(body), {})
    return await _form_file(request, bytes(body), limit, field)


async def _form_file(request: Request, body: bytes, limit: int, field: str) -> Upload:
    # Starlette parses forms from the request stream; replay the bounded body we already hold.
    messages: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> Message:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    try:
        form = await Request(request.scope, receive).form(max_files=1, max_fields=16)
    except (MultiPartException, StarletteHTTPException) as exc:
        detail = getattr(exc, "detail", None) or getattr(exc, "message", None) or str(exc)
        raise ValidationFailed(f"cannot read the multipart form: {detail}") from None
    try:
        item = form.get(field)
        if isinstance(item, UploadFile):
            data = await item.read()
        elif isinstance(item, str):
            data = item.encode()
        else:
            raise ValidationFailed(f"no file in the form field {field!r}")
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str) and k != field}
    finally:
        await form.close()
    if len(data) > limit:
        raise UploadTooLarge(limit)
    return Upload(data, fields)


async def record_refusal(
    deps: GatewayDeps, principal: Principal, reason: str, *, client: str | None = None
) -> None:
    """Audit a refused certificate upload (``certificate.put``, failure)."""
    await deps.audit.record(
        AuditEvent(
            tenant=principal.tenant,
            actor=principal.username,
            action="certificate.put",
            target=principal.user_id,
            outcome="failure",
            detail={"reason": reason},
            client=client,
        )
    )


async def store_certificate(
    deps: GatewayDeps,
    principal: Principal,
    data: bytes,
    *,
    client: str | None = None,
    now: datetime | None = None,
) -> CertificateRecord:
    """Validate ``data`` and make it the user's certificate (replacing any), audited.

    Raises:
        ValidationFailed: the precise reason (audited as a failure).
    """
    try:
        cert = validate_certificate(data, now)
    except ValidationFailed as exc:
        await record_refusal(deps, principal, str(exc), client=client)
        raise
    user = await deps.identity.get_user(principal.user_id)
    previous = await deps.certificates.get(principal.user_id)
    record = CertificateRecord.of(principal.user_id, cert, seal_mode=user.seal_mode)
    await deps.certificates.put(record)
    await deps.audit.record(
        AuditEvent(
            tenant=principal.tenant,
            actor=principal.username,
            action="certificate.put",
            target=principal.user_id,
            detail={
                "sha256": record.sha256,
                "subject": record.subject,
                "not_after": record.not_after.isoformat(),
                "replaced": previous.sha256 if previous else None,
            },
            client=client,
        )
    )
    return record


@router.get("/me", summary="The signed-in user", response_model=Me)
async def get_me(principal: CurrentPrincipal, deps: Deps) -> Me:
    user = await deps.identity.get_user(principal.user_id)
    record = await deps.certificates.get(principal.user_id)
    return Me(
        user_id=principal.user_id,
        username=principal.username,
        tenant=principal.tenant,
        roles=list(principal.roles),
        certificate=None if record is None else certificate_details(record),
        preferences=Preferences(seal_mode=user.seal_mode),
    )


@router.get(
    "/me/certificate",
    summary="The certificate files are sealed for",
    response_model=CertificateDetails,
    responses={404: {"description": "no certificate on file (error: no_certificate)"}},
)
async def get_certificate(principal: ExporterPrincipal, deps: Deps) -> CertificateDetails:
    record = await deps.certificates.get(principal.user_id)
    if record is None:
        raise ApiError(404, "no_certificate", NO_CERTIFICATE)
    return certificate_details(record)


@router.put(
    "/me/certificate",
    summary="Upload (replace) the certificate: the PEM or DER file as the body, or a multipart "
    "form with the file in `file`",
    response_model=CertificateDetails,
    responses={
        413: {"description": "larger than certificate_max_bytes (error: too_large)"},
        422: {"description": "refused, with the precise reason (error: invalid_certificate)"},
    },
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
async def put_certificate(
    request: Request, principal: ExporterPrincipal, deps: Deps
) -> CertificateDetails:
    client = client_address(request)
    limit = deps.settings.gateway.certificate_max_bytes
    try:
        upload = await read_upload(request, limit)
    except UploadTooLarge as exc:
        await record_refusal(deps, principal, "too_large", client=client)
        raise ApiError(413, "too_large", str(exc)) from None
    except ValidationFailed as exc:
        await record_refusal(deps, principal, str(exc), client=client)
        raise ApiError(422, "invalid_certificate", str(exc)) from None
    try:
        record = await store_certificate(deps, principal, upload.data, client=client)
    except ValidationFailed as exc:
        raise ApiError(422, "invalid_certificate", str(exc)) from None
    return certificate_details(record)


@router.get("/me/preferences", summary="The user's preferences", response_model=Preferences)
async def get_preferences(principal: CurrentPrincipal, deps: Deps) -> Preferences:
    user = await deps.identity.get_user(principal.user_id)
    return Preferences(seal_mode=user.seal_mode)


@router.put("/me/preferences", summary="Change the user's preferences", response_model=Preferences)
async def put_preferences(
    body: Preferences, request: Request, principal: ExporterPrincipal, deps: Deps
) -> Preferences:
    await store_seal_mode(deps, principal, body.seal_mode, client=client_address(request))
    return body


async def store_seal_mode(
    deps: GatewayDeps, principal: Principal, seal_mode: SealMode, *, client: str | None = None
) -> None:
    """The user's sealing preference, applied to the certificate on file too; audited."""
    await deps.identity.set_seal_mode(principal.user_id, seal_mode)
    record = await deps.certificates.get(principal.user_id)
    if record is not None and record.seal_mode != seal_mode:
        await deps.certificates.put(record.model_copy(update={"seal_mode": seal_mode}))
    await deps.audit.record(
        AuditEvent(
            tenant=principal.tenant,
            actor=principal.username,
            action="preferences.put",
            target=principal.user_id,
            detail={"seal_mode": seal_mode},
            client=client,
        )
    )
