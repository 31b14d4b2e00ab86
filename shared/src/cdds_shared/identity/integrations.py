"""Integrations: other contact-centre systems as service principals of a tenant (MongoDB
``integrations``; docs/operations.md, "Integrations").

An integration is a user of its tenant with the ``exporter`` role (it owns its runs; its files are
sealed to its own certificate), a long-lived REST token ``cdds_int_…`` (stored only as its
SHA-256) and a RabbitMQ user (whose password only RabbitMQ keeps; ``cdds-admin`` makes it). Its
user's password is a random secret nobody is given, so it never signs in with one.

Revoking is final: the token stops at once and the name stays taken, because the broker grants
an integration the queues ``cdds.int.<tenant>.<name>.*``, and a new integration of the same name
could read what an old one left there.
"""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from cdds_shared.errors import ConflictError, NotFoundError, ValidationFailed
from cdds_shared.identity.model import Session, SignedIn
from cdds_shared.identity.store import USERS, IdentityStore
from cdds_shared.identity.tokens import token_id
from cdds_shared.ports.documents import DocumentCollection, DocumentStore, IndexSpec
from cdds_shared.runs.model import to_millis, utcnow

__all__ = [
    "INTEGRATIONS",
    "TOKEN_PREFIX",
    "Integration",
    "IntegrationStore",
    "broker_username",
    "check_integration_name",
    "principal_name",
    "queue_prefix",
    "routing_prefix",
]

INTEGRATIONS = "integrations"
TOKEN_PREFIX = "cdds_int_"  # noqa: S105 - a prefix, not a secret
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,47}")
_NEVER = datetime(9999, 12, 31, tzinfo=UTC)


def check_integration_name(name: str) -> str:
    """The name, or ``ValidationFailed``. No '.': the name is one word of the queue names and
    of the broker username, whose words are separated by dots."""
    if not _NAME.fullmatch(name):
        raise ValidationFailed(
            f"invalid integration name {name!r}: 1 to 48 letters, digits, '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def broker_username(tenant: str, name: str) -> str:
    """Its RabbitMQ user (and the AMQP ``user_id`` it publishes with): unambiguous, since
    neither tenant nor integration names contain a dot."""
    return f"cdds-int.{tenant}.{name}"


def principal_name(name: str) -> str:
    """The username of its principal, which is also the actor of what it does."""
    return f"integration:{name}"


def routing_prefix(tenant: str) -> str:
    return f"{tenant}."


def queue_prefix(tenant: str, name: str) -> str:
    return f"cdds.int.{tenant}.{name}."


class Integration(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str = Field(alias="_id", default_factory=lambda: uuid.uuid4().hex)
    name: str
    tenant: str
    user_id: str = Field(description="its principal (a user of the tenant)")
    broker_username: str
    token_hash: str = Field(repr=False, description="SHA-256 (hex) of the REST token")
    created_at: datetime
    revoked_at: datetime | None = None


class IntegrationStore:
    """Integrations and their principals. Collections are looked up on use."""

    def __init__(self, documents: DocumentStore, identity: IdentityStore | None = None) -> None:
        self._documents = documents
        self._identity = identity or IdentityStore(documents)

    @property
    def _c(self) -> DocumentCollection:
        return self._documents.collection(INTEGRATIONS)

    async def ensure_indexes(self) -> None:
        await self._c.ensure_indexes(
            [
                IndexSpec((("tenant", 1), ("name", 1)), unique=True),
                IndexSpec((("token_hash", 1),), unique=True),
            ]
        )

    async def create(self, name: str, tenant: str) -> tuple[Integration, str]:
        """A new integration, its principal and its token (returned once, stored hashed).

        Raises:
            NotFoundError: unknown tenant.
            ConflictError: the tenant has (or had: revoked) an integration of that name, or a user
                of its principal's name.
            ValidationFailed: a bad name, or a tenant (made before names lost the '.') whose name
                has a '.'.
        """
        check_integration_name(name)
        await self._identity.get_tenant(tenant)
        if "." in tenant:  # a tenant named before names lost the '.'
            raise ValidationFailed(
                f"tenant {tenant!r} has a '.' in its name: routing keys are ambiguous"
            )
        if await self.find(name, tenant) is not None:
            raise ConflictError(f"integration {name!r} already exists in tenant {tenant!r}")
        user = await self._identity.create_user(
            principal_name(name),
            tenant,
            ["exporter"],
            secrets.token_urlsafe(32),  # nobody is given it: the principal never signs in
            integration=name,
        )
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        integration = Integration(
            name=name,
            tenant=tenant,
            user_id=user.id,
            broker_username=broker_username(tenant, name),
            token_hash=token_id(token),
            created_at=utcnow(),
        )
        try:
            await self._c.insert(integration.model_dump(by_alias=True))
        except ConflictError:  # a concurrent creator won
            await self._documents.collection(USERS).delete({"_id": user.id})
            raise ConflictError(
                f"integration {name!r} already exists in tenant {tenant!r}"
            ) from None
        return integration, token

    async def discard(self, integration: Integration) -> None:
        """Remove a just-created integration and its principal (its broker user could not be
        made: nothing has used it)."""
        await self._c.delete({"_id": integration.id})
        await self._documents.collection(USERS).delete({"_id": integration.user_id})

    async def by_broker_user(self, username: str) -> Integration | None:
        """The integration whose broker user is ``username`` (the AMQP ``user_id`` RabbitMQ
        vouched for), if it is not revoked."""
        doc = await self._c.find_one({"broker_username": username, "revoked_at": None})
        return None if doc is None else Integration.model_validate(doc)

    async def find(self, name: str, tenant: str) -> Integration | None:
        doc = await self._c.find_one({"tenant": tenant, "name": name})
        return None if doc is None else Integration.model_validate(doc)

    async def named(self, name: str, tenant: str) -> Integration:
        """The integration, or ``NotFoundError`` naming what is unknown."""
        await self._identity.get_tenant(tenant)
        found = await self.find(name, tenant)
        if found is None:
            raise NotFoundError(f"unknown integration {name!r} in tenant {tenant!r}")
        return found

    async def of_tenant(self, tenant: str) -> list[Integration]:
        await self._identity.get_tenant(tenant)
        found = self._c.find({"tenant": tenant}, sort=[("name", 1)])
        return [Integration.model_validate(d) async for d in found]

    async def revoke(self, name: str, tenant: str) -> Integration:
        """Mark it revoked (its token stops at once) and disable its principal. Revoking again
        changes nothing and returns it as it is (so a revoke interrupted before its broker
        user was deleted can simply be repeated)."""
        integration = await self.named(name, tenant)
        if integration.revoked_at is None:
            now = to_millis(utcnow())
            await self._c.update({"_id": integration.id, "revoked_at": None}, {"revoked_at": now})
            integration = await self.named(name, tenant)
        await self._identity.disable_user(integration.user_id)
        return integration

    async def signed_in(self, token: str) -> SignedIn | None:
        """Who a ``cdds_int_`` token belongs to, as a session that never expires; ``None`` when
        it is unknown or revoked, or its principal disabled or gone."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        doc = await self._c.find_one({"token_hash": token_id(token)})
        integration = None if doc is None else Integration.model_validate(doc)
        if integration is None or integration.revoked_at is not None:
            return None
        try:
            user = await self._identity.get_user(integration.user_id)
        except NotFoundError:
            return None
        tenant = await self._identity.find_tenant(user.tenant)
        if user.disabled or tenant is None:
            return None
        session = Session(
            id=f"integration:{integration.id}",
            user_id=user.id,
            tenant=tenant.name,
            csrf_token="",  # never used: a bearer request needs no CSRF token
            created_at=integration.created_at,
            expires_at=_NEVER,
        )
        return SignedIn(session=session, user=user, tenant=tenant)
