"""Session tokens: random, shown to the client once, stored only as their SHA-256."""

from __future__ import annotations

import hashlib
import secrets

__all__ = ["new_token", "token_id"]


def new_token() -> str:
    """256 bits from the OS's CSPRNG, URL- and cookie-safe."""
    return secrets.token_urlsafe(32)


def token_id(token: str) -> str:
    """The stored id of a token (a fast hash is enough: the token has 256 bits of entropy)."""
    return hashlib.sha256(token.encode()).hexdigest()
