"""The CMS codec of :mod:`cdds_cms`, as the services use it: the same names, with a refused
certificate raised as :class:`~cdds_shared.errors.ValidationFailed` (a 422 at the gateway, a
failed run in the workers) rather than the package's own ``InvalidRecipient``.

``IntegrityError`` stays the package's: only the ``cdds`` client opens sealed files.
"""

from __future__ import annotations

from cdds_cms import (
    MAX_GCM_CONTENT_LENGTH,
    MIN_RSA_BITS,
    IntegrityError,
    InvalidRecipient,
    Opener,
    Sealer,
    SealMode,
    envelope_overhead,
    sealed_size,
)
from cdds_cms import Recipient as _Recipient
from cdds_shared.errors import ValidationFailed

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


class Recipient(_Recipient):
    """:class:`cdds_cms.Recipient` whose :meth:`load` raises ``ValidationFailed``."""

    @classmethod
    def load(cls, data: bytes) -> Recipient:
        """Read one certificate, PEM or DER.

        Raises:
            ValidationFailed: not exactly one X.509 certificate, or its key is not RSA of at
                least ``MIN_RSA_BITS`` bits.
        """
        try:
            return cls(_Recipient.load(data).certificate)
        except InvalidRecipient as exc:
            raise ValidationFailed(str(exc)) from None
