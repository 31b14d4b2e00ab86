"""Who sees what: everything is confined to one tenant; within it, jobs, runs and files belong to
their owner, and an admin sees the whole tenant's (docs/api.md § Who sees what).

A ``Scope`` is how a caller's reach is given to the stores: they turn it into their filters, so
a use case never writes one and a forgotten filter cannot leak another tenant's documents.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Scope"]


@dataclass(frozen=True)
class Scope:
    """One tenant's documents; ``owner``: only that user's (``None``: the whole tenant's)."""

    tenant: str
    owner: str | None = None

    def filter(self) -> dict[str, str]:
        """The equalities a query of the documents in scope starts from."""
        return {"tenant": self.tenant} | ({"owner": self.owner} if self.owner else {})

    def admits(self, doc: Mapping[str, Any]) -> bool:
        """Whether ``doc`` (read by ``_id`` alone, the one filter FerretDB 1.24 answers without
        scanning its collection) is in scope."""
        return doc.get("tenant") == self.tenant and (
            self.owner is None or doc.get("owner") == self.owner
        )
