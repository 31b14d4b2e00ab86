"""Server-side sessions (MongoDB ``sessions``): created at sign-in, found by token, ended.

Mixed into ``IdentityStore``. Expiry is checked on read (FerretDB has no TTL indexes);
``purge_expired_sessions`` removes the ones nobody presents again.
"""

from __future__ import annotations

from datetime import datetime

from cdds_shared.identity.model import Session, User
from cdds_shared.identity.policy import IdentityPolicy
from cdds_shared.identity.tokens import new_token, token_id
from cdds_shared.ports.documents import DocumentCollection, DocumentStore
from cdds_shared.runs.model import to_millis, utcnow

__all__ = ["SESSIONS", "SessionMethods"]

SESSIONS = "sessions"


class SessionMethods:
    """The session half of ``IdentityStore``."""

    _documents: DocumentStore
    policy: IdentityPolicy

    @property
    def _sessions(self) -> DocumentCollection:
        return self._documents.collection(SESSIONS)

    async def create_session(
        self,
        user: User,
        remember_me: bool = False,
        *,
        now: datetime | None = None,
        policy: IdentityPolicy | None = None,
    ) -> tuple[str, Session]:
        """A new session: returns its token (give it to the client, it is not stored) and the
        stored session (keyed by the token's SHA-256)."""
        now = to_millis(now or utcnow())
        policy = policy or self.policy
        token = new_token()
        session = Session(
            id=token_id(token),
            user_id=user.id,
            tenant=user.tenant,
            csrf_token=new_token(),
            remember_me=remember_me,
            created_at=now,
            expires_at=to_millis(now + policy.lifetime(remember_me)),
        )
        await self._sessions.insert(session.model_dump(by_alias=True))
        return token, session

    async def session_for_token(self, token: str, *, now: datetime | None = None) -> Session | None:
        """The live session of this token, or ``None`` (unknown or expired; expired ones are
        deleted on sight)."""
        if not token:
            return None
        doc = await self._sessions.find_one({"_id": token_id(token)})
        if doc is None:
            return None
        session = Session.model_validate(doc)
        if session.expires_at <= (now or utcnow()):
            await self._sessions.delete({"_id": session.id})
            return None
        return session

    async def delete_session(self, token: str) -> bool:
        return await self.delete_session_id(token_id(token))

    async def delete_session_id(self, session_id: str) -> bool:
        return await self._sessions.delete({"_id": session_id}) > 0

    async def delete_sessions_of(self, user_id: str, *, keep: str | None = None) -> int:
        """End the user's sessions, except the one whose id is ``keep``."""
        query: dict[str, object] = {"user_id": user_id}
        if keep is not None:
            query["_id"] = {"$nin": [keep]}
        return await self._sessions.delete(query)

    async def purge_expired_sessions(self, now: datetime | None = None) -> int:
        """Delete sessions past their expiry (no TTL indexes on FerretDB: call periodically)."""
        return await self._sessions.delete({"expires_at": {"$lte": now or utcnow()}})
