"""What the CMS codec raises: plain ``ValueError`` subclasses, so the package stands alone.

The services map them onto their own error taxonomy where a run's fate depends on them
(``cdds_shared.crypto.cms``).
"""

from __future__ import annotations

__all__ = ["CmsError", "IntegrityError", "InvalidRecipient"]


class CmsError(ValueError):
    """Base of every error this package raises on purpose; ``str()`` is for humans."""


class InvalidRecipient(CmsError):
    """Not exactly one X.509 certificate with an RSA key long enough to seal for."""


class IntegrityError(CmsError):
    """The sealed file cannot be trusted: altered, truncated, not CMS, or not for this key."""

    code = "integrity"

    TAG_MISMATCH = "authentication tag does not match: the file was altered or is not for this key"
    BAD_PADDING = "padding is invalid: the file was altered or is not for this key"
    TRUNCATED = "file is truncated"
    WRONG_KEY = "this file is not sealed for that key"

    @classmethod
    def unreadable(cls, detail: str) -> IntegrityError:
        return cls(f"not a CMS file this tool can read: {detail}")
