"""Who sees what (docs/api.md § Who sees what): all is confined to the caller's tenant; within it,
jobs, runs and artifacts belong to their owner. An ``admin`` sees and manages the whole tenant's.

Every query of the use cases starts from ``scope(principal)``, so a forgotten filter cannot leak
another tenant's documents; what is out of scope is reported as not found (404), never 403.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

from cdds_gateway.principal import Principal
from cdds_shared.ports.documents import DocumentCollection

__all__ = ["matches", "page_total", "read_key", "scope"]


def scope(principal: Principal, owner: str | None = None) -> dict[str, Any]:
    """The filter of the documents ``principal`` may see; an admin may narrow it to ``owner``."""
    if principal.has("admin"):
        return {"tenant": principal.tenant} | ({"owner": owner} if owner else {})
    return {"tenant": principal.tenant, "owner": principal.user_id}


def matches(doc: Mapping[str, Any], where: Mapping[str, Any]) -> bool:
    """Whether ``doc`` passes ``where``, a filter of plain equalities such as ``scope`` makes
    (``None`` matches a missing field, as in MongoDB). Lets a use case fetch a document by
    ``_id`` alone, which FerretDB 1.24 answers from its primary key, and then check the scope."""
    for key, wanted in where.items():
        if isinstance(wanted, Mapping) or key.startswith("$"):
            raise ValueError(f"matches: only plain equalities, not {key}: {wanted!r}")
        if doc.get(key) != wanted:
            return False
    return True


async def page_total(
    collection: DocumentCollection, where: Mapping[str, Any], found: int, limit: int, offset: int
) -> int:
    """The total behind a page of ``found`` items: known without counting when the page is
    neither full nor empty (each count is another scan of the collection on FerretDB)."""
    if 0 < found < limit or (found == 0 and offset == 0):
        return offset + found
    return await collection.count(where)


def read_key(
    read: str, principal: Principal, owner: str | None = None, *args: Hashable
) -> Hashable:
    """The key under which ``read`` is shared (``cdds_gateway.coalesce``): what ``principal``
    may see (its scope, not who it is: two admins of a tenant share their listings) and the
    read's own arguments."""
    return (read, tuple(sorted(scope(principal, owner).items())), *args)
