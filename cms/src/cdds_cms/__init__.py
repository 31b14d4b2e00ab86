"""Sealing files for one X.509 RSA certificate as CMS, and opening them, in constant memory.

``gcm`` (default): AuthEnvelopedData (RFC 5083), AES-256-GCM (RFC 5084), RSAES-OAEP with
SHA-256 / MGF1-SHA-256 (RFC 8017, RFC 4055). ``legacy-cbc``: EnvelopedData (RFC 5652),
AES-256-CBC, RSAES-PKCS1-v1_5 (what ``openssl smime`` can unwrap). Both are DER and open with
``openssl cms -decrypt -binary -inform DER -in FILE.p7m -inkey key.pem -out FILE.zip``.

The pieces: :mod:`.recipient` (the certificate), :mod:`.sealer` (the encoder), :mod:`.opener`
and :mod:`.content` (the decoder), :mod:`.asn1` (shared encodings), :mod:`.errors`. The package
needs only ``cryptography`` and ``asn1crypto``: the services seal with it and the ``cdds``
client opens with it, without either pulling in the other's dependencies.
"""

from __future__ import annotations

from cdds_cms.errors import CmsError, IntegrityError, InvalidRecipient
from cdds_cms.opener import Opener
from cdds_cms.recipient import MIN_RSA_BITS, Recipient, SealMode
from cdds_cms.sealer import MAX_GCM_CONTENT_LENGTH, Sealer, envelope_overhead, sealed_size

__all__ = [
    "MAX_GCM_CONTENT_LENGTH",
    "MIN_RSA_BITS",
    "CmsError",
    "IntegrityError",
    "InvalidRecipient",
    "Opener",
    "Recipient",
    "SealMode",
    "Sealer",
    "envelope_overhead",
    "sealed_size",
]
