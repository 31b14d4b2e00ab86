"""``IdentityStore``: tenants, users, password checks with lockout, and server-side sessions.

No transactions here (FerretDB has none): each operation is one document write; the failure
counter is an atomic ``$inc`` so concurrent wrong guesses all count. A name that matches no
account is counted and locked the same way, in ``login_throttle`` (``throttle.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime
from typing import Any, NoReturn

from cdds_shared.errors import ConflictError, NotFoundError, ValidationFailed
from cdds_shared.identity.errors import AccountLocked, InvalidCredentials, TenantRequired
from cdds_shared.identity.model import (
    ROLES,
    Role,
    SealMode,
    SignedIn,
    Tenant,
    User,
    check_tenant_name,
    check_username,
)
from cdds_shared.identity.passwords import Passwords
from cdds_shared.identity.policy import IdentityPolicy
from cdds_shared.identity.sessions import SESSIONS, SessionMethods
from cdds_shared.identity.throttle import SignInThrottle
from cdds_shared.ports.documents import DocumentCollection, DocumentStore, IndexSpec
from cdds_shared.runs.model import to_millis, utcnow

__all__ = ["SESSIONS", "TENANTS", "USERS", "IdentityStore"]

TENANTS, USERS = "tenants", "users"


def _roles(roles: Iterable[str]) -> list[Role]:
    chosen: list[Role] = []
    for role in roles:
        if role not in ROLES:
            raise ValidationFailed(f"unknown role {role!r}: expected one of {', '.join(ROLES)}")
        if role not in chosen:
            chosen.append(role)  # narrowed to Role by the check above
    return chosen


class IdentityStore(SessionMethods):
    """Collections are looked up on use, so the store can be built before the client connects.

    Args:
        documents: the document store.
        policy: session lifetimes and lockout; each call may pass its own (the gateway passes
            the one from its settings).
        passwords: the hasher (argon2id with RFC 9106 parameters by default).
    """

    def __init__(
        self,
        documents: DocumentStore,
        policy: IdentityPolicy | None = None,
        *,
        passwords: Passwords | None = None,
    ) -> None:
        self._documents = documents
        self.policy = policy or IdentityPolicy()
        self._passwords = passwords or Passwords()
        self.throttle = SignInThrottle(documents)

    @property
    def _tenants(self) -> DocumentCollection:
        return self._documents.collection(TENANTS)

    @property
    def _users(self) -> DocumentCollection:
        return self._documents.collection(USERS)

    async def ensure_indexes(self) -> None:
        # One UCS tenant belongs to one CDDS tenant: two would read each other's contact history.
        await self._tenants.ensure_indexes([IndexSpec((("ucs_tenant_id", 1),), unique=True)])
        await self._users.ensure_indexes(
            [
                IndexSpec((("tenant", 1), ("username", 1)), unique=True),
                IndexSpec((("username", 1),)),
            ]
        )
        await self._sessions.ensure_indexes(
            [IndexSpec((("user_id", 1),)), IndexSpec((("expires_at", 1),))]
        )
        await self.throttle.ensure_indexes()

    # -- tenants ---------------------------------------------------------------------------------

    async def create_tenant(self, name: str, ucs_tenant_id: int) -> Tenant:
        """Raises ``ConflictError`` when the name or the UCS tenant is taken."""
        tenant = Tenant(
            name=check_tenant_name(name), ucs_tenant_id=ucs_tenant_id, created_at=utcnow()
        )
        if await self.find_tenant(name) is not None:
            raise ConflictError(f"tenant {name!r} already exists")
        owner = await self._tenants.find_one({"ucs_tenant_id": ucs_tenant_id})
        if owner is not None:
            raise ConflictError(
                f"UCS tenant {ucs_tenant_id} already belongs to tenant {owner['_id']!r}"
            )
        try:
            await self._tenants.insert(tenant.model_dump(by_alias=True))
        except ConflictError:  # a concurrent creator won
            raise ConflictError(f"tenant {name!r} or UCS tenant {ucs_tenant_id} is taken") from None
        return tenant

    async def find_tenant(self, name: str) -> Tenant | None:
        doc = await self._tenants.find_one({"_id": name})
        return None if doc is None else Tenant.model_validate(doc)

    async def get_tenant(self, name: str) -> Tenant:
        tenant = await self.find_tenant(name)
        if tenant is None:
            raise NotFoundError(f"unknown tenant {name!r}")
        return tenant

    async def list_tenants(self) -> list[Tenant]:
        return [Tenant.model_validate(d) async for d in self._tenants.find(sort=[("_id", 1)])]

    # -- users -----------------------------------------------------------------------------------

    async def create_user(
        self,
        username: str,
        tenant: str,
        roles: Iterable[str],
        password: str,
        *,
        integration: str | None = None,
        must_change_password: bool = False,
    ) -> User:
        """Raises ``NotFoundError`` (unknown tenant), ``ConflictError`` (the tenant has a user of
        that name) or ``ValidationFailed`` (bad name, role or empty password). ``integration``:
        the principal of that integration (``identity/integrations.py``);
        ``must_change_password``: the password is a one-time one, to be replaced at sign-in."""
        username = check_username(username)
        chosen = _roles(roles)
        await self.get_tenant(tenant)
        if await self.find_user(username, tenant) is not None:
            raise ConflictError(f"user {username!r} already exists in tenant {tenant!r}")
        user = User(
            username=username,
            tenant=tenant,
            roles=chosen,
            password_hash=await self._passwords.hash(password),
            integration=integration,
            must_change_password=must_change_password,
            created_at=utcnow(),
        )
        try:
            await self._users.insert(user.model_dump(by_alias=True))
        except ConflictError:
            raise ConflictError(f"user {username!r} already exists in tenant {tenant!r}") from None
        return user

    async def get_user(self, user_id: str) -> User:
        doc = await self._users.find_one({"_id": user_id})
        if doc is None:
            raise NotFoundError(f"unknown user id {user_id!r}")
        return User.model_validate(doc)

    async def find_user(self, username: str, tenant: str) -> User | None:
        doc = await self._users.find_one({"tenant": tenant, "username": username.strip()})
        return None if doc is None else User.model_validate(doc)

    async def user_named(self, username: str, tenant: str) -> User:
        """The user, or ``NotFoundError`` naming what is unknown (for admin tools)."""
        await self.get_tenant(tenant)
        user = await self.find_user(username, tenant)
        if user is None:
            raise NotFoundError(f"unknown user {username.strip()!r} in tenant {tenant!r}")
        return user

    async def users_named(self, username: str) -> list[User]:
        """Every user of that name, across tenants."""
        found = self._users.find({"username": username.strip()}, sort=[("tenant", 1)])
        return [User.model_validate(d) async for d in found]

    async def list_users(self, tenant: str) -> list[User]:
        found = self._users.find({"tenant": tenant}, sort=[("username", 1)])
        return [User.model_validate(d) async for d in found]

    async def tenant_required(self, username: str, tenant: str | None) -> bool:
        """True only when no tenant is given and the username exists in several tenants."""
        if tenant and tenant.strip():
            return False
        return await self._users.count({"username": username.strip()}) > 1

    async def disable_user(self, user_id: str, disabled: bool = True) -> User:
        """Disable (or enable again) an account; disabling ends its sessions at once."""
        user = await self._set(user_id, disabled=disabled)
        if disabled:
            await self.delete_sessions_of(user_id)
        return user

    async def set_roles(self, user_id: str, roles: Iterable[str]) -> User:
        """Replace the user's roles (effective on the next request: sessions read them live)."""
        return await self._set(user_id, roles=_roles(roles))

    async def set_password(
        self,
        user_id: str,
        password: str,
        *,
        must_change: bool = False,
        keep_session: str | None = None,
    ) -> User:
        """Set a new password, clear any lock, and end the user's sessions (all but the one
        whose id is ``keep_session``: the user changing their own). ``must_change``: a one-time
        password, to be replaced at the next sign-in. An integration's user has none to set:
        it authenticates by its token."""
        if (await self.get_user(user_id)).integration is not None:
            raise ValidationFailed("an integration signs in with its token, not a password")
        password_hash = await self._passwords.hash(password)
        user = await self._set(
            user_id,
            password_hash=password_hash,
            failed_logins=0,
            locked_until=None,
            must_change_password=must_change,
        )
        await self.delete_sessions_of(user_id, keep=keep_session)
        return user

    async def check_password(self, user_id: str, password: str) -> bool:
        """Whether ``password`` is the user's (no counter, no lock: the caller is signed in)."""
        return await self._passwords.verify((await self.get_user(user_id)).password_hash, password)

    async def unlock_user(self, user_id: str) -> User:
        """End a lock from failed sign-ins and restart the failure count."""
        return await self._set(user_id, failed_logins=0, locked_until=None)

    async def set_seal_mode(self, user_id: str, seal_mode: SealMode) -> User:
        return await self._set(user_id, seal_mode=seal_mode)

    async def _set(self, user_id: str, **values: Any) -> User:
        if not await self._users.update({"_id": user_id}, values):
            raise NotFoundError(f"unknown user id {user_id!r}")
        return await self.get_user(user_id)

    # -- sign-in ---------------------------------------------------------------------------------

    async def authenticate(
        self,
        username: str,
        tenant: str | None,
        password: str,
        *,
        now: datetime | None = None,
        policy: IdentityPolicy | None = None,
    ) -> User:
        """The user these credentials belong to.

        Raises:
            TenantRequired: no tenant given and the username exists in several tenants.
            InvalidCredentials: unknown user, wrong password or disabled account (``reason``).
            AccountLocked: locked by earlier failures, or by this one (``just_locked``).
        """
        now = to_millis(now or utcnow())
        policy = policy or self.policy
        tenant = (tenant or "").strip() or None
        if tenant is None:
            candidates = await self.users_named(username)
            if len(candidates) > 1:
                raise TenantRequired()
            user = candidates[0] if candidates else None
        else:
            user = await self.find_user(username, tenant)
        if user is None:
            await self._unknown_name(username, password, now, policy)
        if user.locked_at(now):
            assert user.locked_until is not None
            raise AccountLocked(user, user.locked_until)
        if not await self._passwords.verify(user.password_hash, password):
            await self._count_failure(user, now, policy)
            raise InvalidCredentials("wrong_password", user)
        if user.disabled:
            raise InvalidCredentials("disabled", user)
        changes: dict[str, Any] = {"failed_logins": 0, "locked_until": None, "last_login_at": now}
        if self._passwords.needs_rehash(user.password_hash):  # parameters were raised since
            changes["password_hash"] = await self._passwords.hash(password)
        return await self._set(user.id, **changes)

    async def _unknown_name(
        self, username: str, password: str, now: datetime, policy: IdentityPolicy
    ) -> NoReturn:
        """Answer as for a real account, step for step: locked → refused before any password
        check; else a (dummy) argon2 verify, a counted failure, and a lock at max_failures."""
        until = await self.throttle.name_locked_until(username, now)
        if until is not None:
            raise AccountLocked(None, until)
        await self._passwords.verify_dummy(password)
        until = await self.throttle.count_name_failure(username, now, policy)
        if until is not None:
            raise AccountLocked(None, until, just_locked=True)
        raise InvalidCredentials("unknown_user")

    async def _count_failure(self, user: User, now: datetime, policy: IdentityPolicy) -> None:
        doc = await self._users.find_one_and_update(
            {"_id": user.id}, {"$inc": {"failed_logins": 1}}
        )
        failures = int((doc or {}).get("failed_logins", 0))
        if failures >= policy.max_failures and policy.lockout.total_seconds() > 0:
            until = to_millis(now + policy.lockout)
            # The counter restarts: once the lock ends, the user has max_failures tries again.
            await self._users.update({"_id": user.id}, {"locked_until": until, "failed_logins": 0})
            raise AccountLocked(user, until, just_locked=True)

    # -- sessions (more in SessionMethods) -----------------------------------------------------

    async def signed_in(self, token: str, *, now: datetime | None = None) -> SignedIn | None:
        """The session with its user and tenant as they are now; ``None`` when the token is not
        a live session, or its user was disabled or removed."""
        session = await self.session_for_token(token, now=now)
        if session is None:
            return None
        # The session names its user's tenant: both are read at once (one round trip fewer on
        # every signed-in request), and a user no longer of that tenant ends the session.
        user_doc, tenant = await asyncio.gather(
            self._users.find_one({"_id": session.user_id}), self.find_tenant(session.tenant)
        )
        user = None if user_doc is None else User.model_validate(user_doc)
        if user is None or user.disabled or tenant is None or user.tenant != tenant.name:
            await self._sessions.delete({"_id": session.id})
            return None
        return SignedIn(session=session, user=user, tenant=tenant)
