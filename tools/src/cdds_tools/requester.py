"""Start export runs as the gateway does, for the tests and the benchmark that run exporter and
encryptor without a gateway.

The exporter refuses a ``RunRequested`` unless the gateway created its run, for an enabled
exporter of the tenant that owns the UCS tenant (``cdds_exporter.trust``). ``Requester`` makes
that tenant and owner when missing and starts the run through ``request_run``, the gateway's
own path, so what the exporter sees is what the gateway would have sent.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

from cdds_shared.errors import ConflictError
from cdds_shared.identity import IdentityStore
from cdds_shared.identity.model import Role, Tenant, User
from cdds_shared.identity.passwords import Passwords
from cdds_shared.identity.store import USERS
from cdds_shared.messaging.messages import RecordType, Timeframe
from cdds_shared.ports.documents import DocumentStore
from cdds_shared.runs.lifecycle import Publish
from cdds_shared.runs.model import Run, utcnow
from cdds_shared.runs.requesting import request_run
from cdds_shared.runs.store import RunStore

__all__ = ["Requester"]


@dataclass
class Requester:
    documents: DocumentStore
    publish: Publish

    @property
    def identity(self) -> IdentityStore:
        return IdentityStore(self.documents)

    async def tenant(self, name: str, ucs_tenant_id: int) -> Tenant:
        """The tenant ``name`` of that UCS tenant, created if missing."""
        found = await self.identity.find_tenant(name)
        if found is None:
            try:
                return await self.identity.create_tenant(name, ucs_tenant_id)
            except ConflictError:  # a concurrent caller made it
                found = await self.identity.get_tenant(name)
        if found.ucs_tenant_id != ucs_tenant_id:
            raise ConflictError(f"tenant {name!r} has UCS tenant {found.ucs_tenant_id}")
        return found

    async def user(
        self, user_id: str, tenant: str, roles: tuple[Role, ...] = ("exporter",)
    ) -> User:
        """The user of id ``user_id`` (named the same), created in ``tenant`` if missing. Its
        password is random and forgotten: it only owns runs and certificates."""
        users = self.documents.collection(USERS)
        doc = await users.find_one({"_id": user_id})
        if doc is not None:
            return User.model_validate(doc)
        user = User(
            id=user_id,
            username=user_id,
            tenant=tenant,
            roles=list(roles),
            password_hash=await Passwords().hash(secrets.token_urlsafe(24)),
            created_at=utcnow(),
        )
        try:
            await users.insert(user.model_dump(by_alias=True))
        except ConflictError:
            return User.model_validate(await users.find_one({"_id": user_id}))
        return user

    async def request(
        self,
        *,
        tenant: str,
        ucs_tenant_id: int,
        owner: str,
        record_type: RecordType = "interaction",
        media_types: list[str] | None = None,
        timeframe: Timeframe | None = None,
        split_size_bytes: int = 1 << 30,
        run_id: str | None = None,
    ) -> Run:
        """Start a run: the tenant and an exporter ``owner`` made if missing, then the run
        document and its ``RunRequested`` as the gateway makes them."""
        await self.tenant(tenant, ucs_tenant_id)
        await self.user(owner, tenant)
        run = Run(
            id=run_id or uuid.uuid4().hex[:24],
            tenant=tenant,
            ucs_tenant_id=ucs_tenant_id,
            owner=owner,
            record_type=record_type,
            media_types=media_types,
            timeframe=timeframe or Timeframe(),
            split_size_bytes=split_size_bytes,
            requested_at=utcnow(),
        )
        return await request_run(RunStore(self.documents), self.publish, run)
