"""The signed-in user: who they are, the certificate their files are sealed for, and their
preferences — for the REST API (``api/me.py``) and the User preferences page alike. Every change
and every refused certificate is audited."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field

from cdds_gateway.deps import GatewayDeps
from cdds_gateway.principal import Principal
from cdds_gateway.usecases.audit import record
from cdds_shared.certificates import CertificateRecord, validate_certificate
from cdds_shared.errors import InvalidCertificate, NoCertificate, TooLarge, ValidationFailed
from cdds_shared.identity import Role, SealMode
from cdds_shared.runs.model import utcnow

__all__ = [
    "EXPIRING_SOON",
    "CertificateDetails",
    "Me",
    "Preferences",
    "about_me",
    "certificate_details",
    "certificate_on_file",
    "my_certificate",
    "my_preferences",
    "refuse_upload",
    "store_seal_mode",
    "upload_certificate",
]

EXPIRING_SOON = timedelta(days=30)
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
    kind: Literal["user", "integration"] = Field(
        "user", description="a person, or another system signed in with its integration token"
    )
    integration: str | None = Field(None, description="the integration's name, if it is one")


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


async def about_me(deps: GatewayDeps, principal: Principal) -> Me:
    user, certificate = await asyncio.gather(  # both at once: one round trip
        deps.identity.get_user(principal.user_id), certificate_on_file(deps, principal)
    )
    return Me(
        user_id=principal.user_id,
        username=principal.username,
        tenant=principal.tenant,
        roles=list(principal.roles),
        certificate=certificate,
        preferences=Preferences(seal_mode=user.seal_mode),
        kind="user" if principal.integration is None else "integration",
        integration=principal.integration,
    )


async def certificate_on_file(deps: GatewayDeps, principal: Principal) -> CertificateDetails | None:
    record = await deps.certificates.get(principal.user_id)
    return None if record is None else certificate_details(record)


async def my_certificate(deps: GatewayDeps, principal: Principal) -> CertificateDetails:
    """The certificate files are sealed for; ``NoCertificate`` when there is none."""
    found = await certificate_on_file(deps, principal)
    if found is None:
        raise NoCertificate(NO_CERTIFICATE)
    return found


async def my_preferences(deps: GatewayDeps, principal: Principal) -> Preferences:
    user = await deps.identity.get_user(principal.user_id)
    return Preferences(seal_mode=user.seal_mode)


async def refuse_upload(
    deps: GatewayDeps, principal: Principal, exc: ValidationFailed, *, client: str | None = None
) -> ValidationFailed:
    """Audit an upload refused before its file was read (too large, an unreadable form); the
    error to raise: ``TooLarge`` as it is, anything else as ``InvalidCertificate``."""
    reason = "too_large" if isinstance(exc, TooLarge) else str(exc)
    await _record_refusal(deps, principal, reason, client=client)
    return exc if isinstance(exc, TooLarge) else InvalidCertificate(str(exc))


async def upload_certificate(
    deps: GatewayDeps,
    principal: Principal,
    data: bytes,
    *,
    client: str | None = None,
    now: datetime | None = None,
) -> CertificateDetails:
    """Validate ``data`` and make it the user's certificate (replacing any), audited.

    Raises:
        InvalidCertificate: the precise reason (audited as a failure).
    """
    try:
        cert = validate_certificate(data, now)
    except ValidationFailed as exc:
        await _record_refusal(deps, principal, str(exc), client=client)
        raise InvalidCertificate(str(exc)) from None
    user = await deps.identity.get_user(principal.user_id)
    previous = await deps.certificates.get(principal.user_id)
    stored = CertificateRecord.of(principal.user_id, cert, seal_mode=user.seal_mode)
    await deps.certificates.put(stored)
    await record(
        deps, principal, "certificate.put", principal.user_id, client=client,
        sha256=stored.sha256, subject=stored.subject, not_after=stored.not_after.isoformat(),
        replaced=previous.sha256 if previous else None,
    )  # fmt: skip
    return certificate_details(stored)


async def _record_refusal(
    deps: GatewayDeps, principal: Principal, reason: str, *, client: str | None = None
) -> None:
    """Audit a refused certificate upload (``certificate.put``, failure)."""
    await record(
        deps, principal, "certificate.put", principal.user_id, outcome="failure", client=client,
        reason=reason,
    )  # fmt: skip


async def store_seal_mode(
    deps: GatewayDeps, principal: Principal, seal_mode: SealMode, *, client: str | None = None
) -> None:
    """The user's sealing preference, applied to the certificate on file too; audited."""
    await deps.identity.set_seal_mode(principal.user_id, seal_mode)
    on_file = await deps.certificates.get(principal.user_id)
    if on_file is not None and on_file.seal_mode != seal_mode:
        await deps.certificates.put(on_file.model_copy(update={"seal_mode": seal_mode}))
    await record(
        deps, principal, "preferences.put", principal.user_id, client=client, seal_mode=seal_mode
    )
