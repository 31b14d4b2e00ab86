"""Sealing files for one X.509 RSA certificate as CMS, and opening them, in constant memory.

``gcm`` (default): AuthEnvelopedData (RFC 5083), AES-256-GCM (RFC 5084), RSAES-OAEP with
SHA-256 / MGF1-SHA-256 (RFC 8017, RFC 4055). ``legacy-cbc``: EnvelopedData (RFC 5652),
AES-256-CBC, RSAES-PKCS1-v1_5 (what ``openssl smime`` can unwrap). Both are DER and open with
``openssl cms -decrypt -binary -inform DER -in FILE.p7m -inkey key.pem -out FILE.zip``.

The pieces: :mod:`cms_recipient` (the certificate), :mod:`cms_seal` (the encoder),
:mod:`cms_open` and :mod:`cms_content` (the decoder), :mod:`cms_asn1` (shared encodings).
"""

from __future__ import annotations

from cdds_shared.crypto.cms_open import IntegrityError, Opener
from cdds_shared.crypto.cms_recipient import MIN_RSA_BITS, Recipient, SealMode
from cdds_shared.crypto.cms_seal import (
    MAX_GCM_CONTENT_LENGTH,
    Sealer,
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
