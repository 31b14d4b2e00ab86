"""Cryptography for CDDS: CMS sealing of exported files (:mod:`cdds_shared.crypto.cms`)."""

from cdds_shared.crypto.cms import (
    MAX_GCM_CONTENT_LENGTH,
    MIN_RSA_BITS,
    IntegrityError,
    Opener,
    Recipient,
    Sealer,
    SealMode,
    envelope_overhead,
    sealed_size,
)

__all__ = [
    "MAX_GCM_CONTENT_LENGTH",
    "MIN_RSA_BITS",
    "IntegrityError",
    "Opener",
    "Recipient",
    "SealMode",
    "Sealer",
    "envelope_overhead",
    "sealed_size",
]
