"""Object storage port: artifacts and staged parts in MinIO (or any S3).

Streams both ways so that a part of gigabytes never sits in memory: ``put_stream`` holds at most
two upload parts (one on its way), ``open_stream`` yields chunks.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

__all__ = [
    "DEFAULT_PART_SIZE",
    "MIN_PART_SIZE",
    "RETENTION_RULE_ID",
    "ExpiryRule",
    "ObjectInfo",
    "ObjectStore",
]

MIN_PART_SIZE = 5 * 1024 * 1024
"""S3's smallest multipart part (every part but the last)."""

DEFAULT_PART_SIZE = 16 * 1024 * 1024

RETENTION_RULE_ID = "cdds-retention-backstop"
"""Stable id of the lifecycle rule that expires artifacts as the last retention backstop."""


@dataclass(frozen=True)
class ObjectInfo:
    """What the store knows about an object; a multipart ``etag`` ends in ``-<parts>``."""

    key: str
    size: int
    etag: str
    last_modified: datetime | None = None
    content_type: str | None = None


@dataclass(frozen=True)
class ExpiryRule:
    """A bucket lifecycle rule (``days`` is ``None`` when the rule does not expire objects)."""

    rule_id: str
    prefix: str | None
    days: int | None
    enabled: bool = True


class ObjectStore(Protocol):
    """One bucket of objects addressed by key.

    Errors: ``NotFoundError`` for a missing object, ``DependencyUnavailable`` (naming the setting)
    when the server cannot be reached or refuses the credentials.
    """

    async def ping(self) -> None: ...

    async def close(self) -> None: ...

    async def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (idempotent)."""
        ...

    async def put_bytes(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> ObjectInfo: ...

    async def put_stream(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        part_size: int = DEFAULT_PART_SIZE,
        content_type: str = "application/octet-stream",
    ) -> ObjectInfo:
        """Upload a stream of unknown length, holding at most two parts in memory."""
        ...

    def open_stream(
        self, key: str, *, offset: int = 0, length: int | None = None
    ) -> AsyncGenerator[bytes, None]:
        """Yield the bytes from ``offset`` (``length`` of them, or to the end); ``aclosing`` it."""
        ...

    async def stat(self, key: str) -> ObjectInfo: ...

    async def delete(self, key: str) -> None:
        """Delete the object; deleting a missing object is not an error."""
        ...

    def list(self, prefix: str = "") -> AsyncGenerator[ObjectInfo, None]:
        """Iterate over objects whose key starts with ``prefix``, in key order."""
        ...

    async def presigned_get(
        self,
        key: str,
        expires: timedelta,
        *,
        public_endpoint: str | None = None,
        download_name: str | None = None,
        content_type: str | None = None,
    ) -> str:
        """A URL a browser can GET without credentials until ``expires`` has passed; its answer
        carries ``download_name`` as an attachment's file name and ``content_type``."""
        ...

    async def set_expiry_rule(
        self, prefix: str, days: int, *, rule_id: str = RETENTION_RULE_ID
    ) -> None:
        """Ensure exactly one lifecycle rule ``rule_id`` expiring ``prefix`` after ``days``."""
        ...

    async def get_lifecycle(self) -> tuple[ExpiryRule, ...]: ...
