"""The audit log (MongoDB ``audit``): who did what, when, to what, with which outcome.

Every sign-in (success and failure), password change, certificate change, job change, run,
download and deletion is recorded, and every change an administrator makes to a user (``user.*``:
``user.create``, ``user.grant``, ``user.revoke``, ``user.disable``, ``user.enable``,
``user.unlock``, ``user.password.reset``; ``user.password.change`` by the user themselves).
Entries are insert-only; admins read them through ``GET /api/v1/audit``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cdds_shared.ports.documents import DocumentCollection, DocumentStore, IndexSpec
from cdds_shared.request_context import current_request_id
from cdds_shared.runs.model import utcnow

__all__ = ["AuditEvent", "AuditLog"]

COLLECTION = "audit"
Outcome = Literal["success", "failure"]


class AuditEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str = Field(alias="_id", default_factory=lambda: uuid.uuid4().hex)
    at: datetime = Field(default_factory=utcnow)
    tenant: str | None = Field(description="the actor's tenant (None: not known, e.g. bad login)")
    actor: str = Field(description="username (or the name tried, for a failed sign-in)")
    action: str = Field(
        description="e.g. session.create, certificate.put, job.create, run.start,"
        " artifact.download, artifact.delete, run.delete, user.create, user.grant,"
        " user.revoke, user.disable, user.enable, user.unlock, user.password.reset,"
        " user.password.change"
    )
    target: str | None = Field(None, description="id of what was acted on")
    outcome: Outcome = "success"
    detail: dict[str, Any] = Field(default_factory=dict, description="no secrets, no contents")
    client: str | None = Field(None, description="client address")
    request_id: str | None = Field(
        default_factory=current_request_id,
        description="the HTTP request's id (X-Request-ID) it was written in; None outside one",
    )


class AuditLog:
    def __init__(self, documents: DocumentStore) -> None:
        self._documents = documents

    @property
    def _c(self) -> DocumentCollection:
        return self._documents.collection(COLLECTION)

    async def ensure_indexes(self) -> None:
        await self._c.ensure_indexes([IndexSpec((("tenant", 1), ("at", -1)))])

    async def record(self, event: AuditEvent) -> None:
        await self._c.insert(event.model_dump(by_alias=True))

    async def find(
        self,
        *,
        tenant: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        target: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        skip: int = 0,
    ) -> list[AuditEvent]:
        """Newest first. ``action`` may end with ``*`` to match a prefix (``artifact.*``)."""
        query: dict[str, Any] = {}
        for name, value in (("tenant", tenant), ("actor", actor), ("target", target)):
            if value is not None:
                query[name] = value
        if action is not None and not action.endswith("*"):
            query["action"] = action
        if since is not None or until is not None:
            query["at"] = {k: v for k, v in (("$gte", since), ("$lt", until)) if v is not None}
        found = self._c.find(query, sort=[("at", -1)], limit=None, skip=0)
        events = [AuditEvent.model_validate(d) async for d in found]
        if action is not None and action.endswith("*"):
            events = [e for e in events if e.action.startswith(action[:-1])]
        return events[skip : skip + limit]
