"""Users' certificates on file (MongoDB ``certificates``, one document per user).

The gateway validates and stores them; the encryptor reads them at sealing time (a certificate
removed or expired during a run fails it), and the exporter reads the public certificate when it
plans a run, to size the CMS envelope (docs/pipeline.md).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from pydantic import BaseModel, ConfigDict, Field

from cdds_shared.crypto.cms import Recipient
from cdds_shared.errors import PermanentError, ValidationFailed
from cdds_shared.ports.documents import DocumentCollection, DocumentStore
from cdds_shared.runs.model import utcnow

__all__ = [
    "CertificateRecord",
    "CertificateStore",
    "CertificateUnusable",
    "usable_certificate",
    "validate_certificate",
]

COLLECTION = "certificates"


class CertificateRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    owner: str = Field(alias="_id")
    der: bytes
    sha256: str
    subject: str
    issuer: str
    serial: str
    not_before: datetime
    not_after: datetime
    seal_mode: Literal["gcm", "legacy-cbc"] = "gcm"
    uploaded_at: datetime

    @classmethod
    def of(
        cls, owner: str, cert: x509.Certificate, seal_mode: Literal["gcm", "legacy-cbc"] = "gcm"
    ) -> CertificateRecord:
        from cryptography.hazmat.primitives.serialization import Encoding

        der = cert.public_bytes(Encoding.DER)
        return cls(
            owner=owner,
            der=der,
            sha256=hashlib.sha256(der).hexdigest(),
            subject=cert.subject.rfc4514_string(),
            issuer=cert.issuer.rfc4514_string(),
            serial=format(cert.serial_number, "x"),
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            seal_mode=seal_mode,
            uploaded_at=utcnow(),
        )


class CertificateStore:
    def __init__(self, documents: DocumentStore) -> None:
        self._documents = documents

    @property
    def _c(self) -> DocumentCollection:
        return self._documents.collection(COLLECTION)

    async def get(self, owner: str) -> CertificateRecord | None:
        doc = await self._c.find_one({"_id": owner})
        return None if doc is None else CertificateRecord.model_validate(doc)

    async def delete(self, owner: str) -> bool:
        return await self._c.delete({"_id": owner}) > 0

    async def put(self, record: CertificateRecord) -> None:
        """Replace the owner's certificate (insert the first time)."""
        values = record.model_dump(by_alias=True)
        values.pop("_id")
        if not await self._c.update({"_id": record.owner}, values):
            await self._c.insert({"_id": record.owner, **values})


class CertificateUnusable(PermanentError):
    """The owner has no certificate an export can be sealed for (the reason says why)."""


async def usable_certificate(
    store: CertificateStore, owner: str, now: datetime | None = None
) -> CertificateRecord:
    """The owner's certificate if it can seal a file now, else ``CertificateUnusable``."""
    now = now or utcnow()
    record = await store.get(owner)
    where = "upload one in User preferences"
    if record is None:
        raise CertificateUnusable(f"no certificate on file for user {owner}: {where}")
    if record.not_after <= now:
        raise CertificateUnusable(
            f"the certificate of user {owner} expired on {record.not_after:%Y-%m-%d %H:%M} UTC: "
            f"{where.replace('one', 'a new one')}"
        )
    if record.not_before > now:
        raise CertificateUnusable(
            f"the certificate of user {owner} is not valid before "
            f"{record.not_before:%Y-%m-%d %H:%M} UTC: {where.replace('one', 'a valid one')}"
        )
    return record


def validate_certificate(data: bytes, now: datetime | None = None) -> x509.Certificate:
    """The one X.509 certificate in ``data`` (PEM or DER), if files can be sealed for it now.

    Accepts only an RSA key of at least 2048 bits, inside its validity period, whose keyUsage
    (when present) permits keyEncipherment (RFC 5280 §4.2.1.3: RSA key transport
    needs it).

    Raises:
        ValidationFailed: with a message saying precisely what is wrong.
    """
    if not data.strip():
        raise ValidationFailed("the file is empty: upload an X.509 certificate (PEM or DER)")
    if b"PRIVATE KEY-----" in data:
        raise ValidationFailed(
            "the file contains a private key: upload only the certificate, and keep the key to"
            " yourself"
        )
    try:
        cert = Recipient.load(data).certificate
    except (ValueError, UnsupportedAlgorithm):  # a key cryptography cannot even read
        raise ValidationFailed("the certificate's public key cannot be read") from None
    now = now or utcnow()
    if cert.not_valid_after_utc <= now:
        raise ValidationFailed(
            f"the certificate expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
        )
    if cert.not_valid_before_utc > now:
        raise ValidationFailed(
            f"the certificate is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
        )
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return cert
    except ValueError:  # a malformed extension
        raise ValidationFailed("the certificate's extensions cannot be read") from None
    if not usage.key_encipherment:
        raise ValidationFailed(
            "the certificate's keyUsage does not permit keyEncipherment, which sealing files"
            " for it needs"
        )
    return cert
