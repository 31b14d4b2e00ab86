"""What the unit tests of the run workers build on the fakes: a certificate on file, a run, and
the workers' deps wired to ``tests/fakes.py`` (no server, no network)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from cdds_shared.certificates import CertificateRecord, CertificateStore
from cdds_shared.crypto.transit import TransitKey
from cdds_shared.runs import Run, RunStore, utcnow
from tests.fakes import FakeDocumentStore, FakeObjectStore, RecordingPublisher

__all__ = ["STAGING", "common_deps", "file_certificate", "new_run", "x509_certificate"]

STAGING = "staging/"


@cache
def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def x509_certificate(*, days: float = 365) -> x509.Certificate:
    """A self-signed RSA-2048 certificate valid from yesterday for ``days`` (one key, cached)."""
    now = datetime.now(UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cdds-unit")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(_key().public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
        .sign(_key(), hashes.SHA256())
    )


async def file_certificate(
    documents: FakeDocumentStore,
    owner: str,
    mode: Literal["gcm", "legacy-cbc"] = "gcm",
    **validity: float,
) -> CertificateRecord:
    record = CertificateRecord.of(owner, x509_certificate(**validity), mode)
    await CertificateStore(documents).put(record)
    return record


def new_run(**fields: Any) -> Run:
    values: dict[str, Any] = {
        "_id": f"run-{os.urandom(4).hex()}",
        "tenant": "acme",
        "ucs_tenant_id": 7,
        "owner": "u-ann",
        "record_type": "interaction",
        "split_size_bytes": 10 << 20,
        "requested_at": utcnow(),
        "created_by": "gateway",
    } | fields
    return Run.model_validate(values)


def common_deps(documents: FakeDocumentStore) -> dict[str, Any]:
    """The ``RunDeps`` fields, on fakes."""
    return {
        "documents": documents,
        "runs": RunStore(documents),
        "certificates": CertificateStore(documents),
        "objects": FakeObjectStore(),
        "transit": TransitKey(os.urandom(32)),
        "publish": RecordingPublisher(),
        "staging_prefix": STAGING,
    }
