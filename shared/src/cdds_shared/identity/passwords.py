"""Password hashing with argon2id (RFC 9106), off the event loop.

argon2-cffi's defaults are RFC 9106's second recommended profile (t=3, m=64 MiB, p=4): about
0.1 s per hash here, which is the point — it makes guessing expensive.
"""

from __future__ import annotations

import asyncio
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from cdds_shared.errors import ValidationFailed

__all__ = ["MAX_PASSWORD_LENGTH", "Passwords", "check_password"]

MAX_PASSWORD_LENGTH = 1024


def check_password(password: str) -> str:
    if not password:
        raise ValidationFailed("the password is empty")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationFailed(f"the password is longer than {MAX_PASSWORD_LENGTH} characters")
    return password


class Passwords:
    """Hash and verify passwords; ``verify_dummy`` spends the same time for an unknown user."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()  # argon2id by default
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, check_password(password))

    async def verify(self, password_hash: str, password: str) -> bool:
        return await asyncio.to_thread(self._verify, password_hash, password)

    async def verify_dummy(self, password: str) -> None:
        """Verify against a throw-away hash, so unknown usernames are not told apart by timing."""
        if self._dummy is None:
            self._dummy = await asyncio.to_thread(self._hasher.hash, secrets.token_urlsafe(16))
        await self.verify(self._dummy, password)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
