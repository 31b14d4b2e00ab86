"""UCS source port: read access to the contact-history store CDDS exports from.

``stream`` yields one compact JSON object per record as UTF-8 bytes without a trailing newline,
in id order. Members:

- interaction: id, tenantId, contactId, entityTypeId, mediaTypeId, typeId, subtypeId, status,
  ownerId, parentId, threadId, startDate, endDate, modifiedDate, subject, theText,
  structuredText, structuredTextMimeType, theComment, queueName, attachedData (object or null)
- contact: id, tenantId, title, firstName, lastName, emailAddress, phoneNumber, customerId,
  company, language, timeZone, createdDate, modifiedDate
- attachment (``stream_attachments``): id, entityid (the interaction id), tenantId, theName,
  mimeType, theSize, createdDate, content (base64, no line breaks)

Dates are ISO 8601 in UTC (``2024-03-06T13:12:32.906+00:00``); absent values are ``null``.
The adapter is ``cdds_shared.adapters.postgres_ucs.PostgresUcsSource``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

from cdds_shared.ucs.query import UcsQuery

__all__ = ["KeyedRecord", "UcsQuery", "UcsSource"]

KeyedRecord = tuple[str, bytes, int]
"""``(id, JSON bytes, size of the record's attachment lines)`` from ``stream_batches``."""


class UcsSource(Protocol):
    """Read access to a UCS contact-history store (port). Errors: ``DependencyUnavailable``
    (naming ``CDDS_UCS__DSN``) when the store is unreachable, ``ValidationFailed`` for a bad query.
    """

    async def ping(self) -> None:
        """Check that the store answers and its tables are readable."""

    async def count(self, query: UcsQuery) -> int:
        """Number of records ``stream(query)`` would yield."""

    async def counts(self, tenant_id: int) -> dict[str, Any]:
        """Totals of a tenant per record type and interactions per media type."""

    async def split_keys(self, query: UcsQuery, parts: int) -> list[str]:
        """Ascending ids cutting the query into at most ``parts`` even key ranges."""

    def stream(self, query: UcsQuery) -> AsyncIterator[bytes]:
        """One JSON object per record (UTF-8, no newline), in id order."""

    def stream_attachments(self, query: UcsQuery) -> AsyncIterator[bytes]:
        """One JSON object per attachment of the query's interactions."""

    def stream_batches(
        self, query: UcsQuery, *, attachment_sizes: bool = False
    ) -> AsyncIterator[list[KeyedRecord]]:
        """Batches of ``(id, JSON, attachment bytes)`` in id order (the attachment size is the
        exact byte length of the record's ``stream_attachments`` lines, newlines included)."""

    async def close(self) -> None:
        """Release connections."""
