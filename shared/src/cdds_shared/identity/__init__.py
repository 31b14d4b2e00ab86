"""Tenants, users, roles, passwords and sessions (issue #4)."""

from __future__ import annotations

from cdds_shared.ports.documents import DocumentStore

__all__ = ["IdentityStore"]


class IdentityStore:
    def __init__(self, documents: DocumentStore) -> None:
        self._documents = documents

    async def ensure_indexes(self) -> None:
        return None
