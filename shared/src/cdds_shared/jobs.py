"""Export jobs (issue #4)."""

from __future__ import annotations

from cdds_shared.ports.documents import DocumentStore

__all__ = ["JobStore"]


class JobStore:
    def __init__(self, documents: DocumentStore) -> None:
        self._documents = documents

    async def ensure_indexes(self) -> None:
        return None
