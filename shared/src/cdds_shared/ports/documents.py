"""Document storage port: what services need from MongoDB, and nothing more.

Stays within what both MongoDB 7 and FerretDB 1.24 do: no transactions, no TTL indexes, no
aggregation pipelines. Atomic single-document updates (``find_one_and_update``) are the building
block for idempotent state machines (runs, claims of due jobs).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "ASCENDING",
    "DESCENDING",
    "Document",
    "DocumentCollection",
    "DocumentStore",
    "Filter",
    "IndexSpec",
    "SortSpec",
]

Document = dict[str, Any]
"""A stored document; ``_id`` is its identity (deterministic ids are preferred)."""

Filter = Mapping[str, Any]
"""A MongoDB query filter, e.g. ``{"tenant": "t1", "status": {"$in": ["queued", "running"]}}``."""

SortSpec = Sequence[tuple[str, int]]
"""Sort keys in order, each ``(field, ASCENDING | DESCENDING)``."""

ASCENDING = 1
DESCENDING = -1


@dataclass(frozen=True)
class IndexSpec:
    """An index to ensure: its keys, whether it is unique, and an optional stable name."""

    keys: SortSpec
    unique: bool = False
    name: str | None = None


class DocumentCollection(Protocol):
    """One collection of documents.

    Errors: ``ConflictError`` on a duplicate key, ``NotFoundError`` from ``get``,
    ``DependencyUnavailable`` when the server cannot be reached.
    """

    @property
    def name(self) -> str: ...

    async def insert(self, doc: Mapping[str, Any]) -> Any:
        """Insert one document; return its ``_id``."""
        ...

    async def get(self, doc_id: Any) -> Document:
        """Return the document with this ``_id``."""
        ...

    async def find_one(self, filter: Filter) -> Document | None:
        """Return the first document matching ``filter``, or ``None``."""
        ...

    def find(
        self,
        filter: Filter | None = None,
        *,
        sort: SortSpec | None = None,
        limit: int | None = None,
        skip: int = 0,
    ) -> AsyncGenerator[Document, None]:
        """Iterate over matching documents (use ``contextlib.aclosing`` to stop early)."""
        ...

    async def count(self, filter: Filter | None = None) -> int:
        """Count matching documents."""
        ...

    async def update(self, filter: Filter, set: Mapping[str, Any]) -> int:
        """``$set`` fields on every matching document; return how many matched."""
        ...

    async def find_one_and_update(
        self,
        filter: Filter,
        update: Mapping[str, Any],
        *,
        upsert: bool = False,
        return_after: bool = True,
        sort: SortSpec | None = None,
    ) -> Document | None:
        """Atomically update one document (update operators such as ``$set``, ``$inc``).

        Returns the document after (or before) the update, or ``None`` when nothing matched
        and ``upsert`` is false (or, with ``return_after=False``, when the upsert inserted).
        """
        ...

    async def delete(self, filter: Filter) -> int:
        """Delete every matching document; return how many were deleted."""
        ...

    async def ensure_indexes(self, specs: Sequence[IndexSpec]) -> None:
        """Create the indexes if missing (idempotent)."""
        ...


class DocumentStore(Protocol):
    """A database of collections, with its connection lifecycle."""

    async def connect(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Check the server answers; raise ``DependencyUnavailable`` naming the setting."""
        ...

    @property
    def writes(self) -> int:
        """How many writes this process has finished or given up on through the store; a read
        that starts after a write sees a higher count (the gateway shares reads by it)."""
        ...

    def collection(self, name: str) -> DocumentCollection: ...
