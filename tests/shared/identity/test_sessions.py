"""Server-side sessions: the token never stored, fixed lifetimes (Remember me: longer), and a
session ends with its user's disabling."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from cdds_shared.adapters.mongo import MongoDocumentStore
from cdds_shared.identity import IdentityPolicy, IdentityStore, Tenant
from cdds_shared.identity.store import SESSIONS
from cdds_shared.runs.model import utcnow
from tests.shared.identity.conftest import new_user

pytestmark = pytest.mark.integration


async def test_the_token_is_not_stored_in_clear(
    identity: IdentityStore, documents: MongoDocumentStore, tenant: Tenant
) -> None:
    user = await new_user(identity, tenant)

    token, session = await identity.create_session(user)

    stored = [d async for d in documents.collection(SESSIONS).find({"user_id": user.id})]
    assert len(stored) == 1
    assert stored[0]["_id"] == session.id == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(stored[0])
    assert len(token) >= 43  # 32 random bytes, base64url
    assert stored[0]["csrf_token"] and stored[0]["csrf_token"] != token
    assert await identity.session_for_token(token) == session


async def test_lifetimes_with_and_without_remember_me(
    identity: IdentityStore, tenant: Tenant
) -> None:
    user = await new_user(identity, tenant)
    now = utcnow()
    policy = IdentityPolicy(
        session_lifetime=timedelta(hours=8), remember_me_lifetime=timedelta(days=30)
    )

    _, short = await identity.create_session(user, now=now, policy=policy)
    _, long = await identity.create_session(user, True, now=now, policy=policy)

    assert (short.remember_me, short.expires_at) == (False, now + timedelta(hours=8))
    assert (long.remember_me, long.expires_at) == (True, now + timedelta(days=30))


async def test_an_expired_session_is_gone(identity: IdentityStore, tenant: Tenant) -> None:
    user = await new_user(identity, tenant)
    token, session = await identity.create_session(user)

    assert await identity.session_for_token(token, now=session.expires_at - timedelta(seconds=1))
    assert await identity.session_for_token(token, now=session.expires_at) is None
    assert await identity.session_for_token(token) is None  # deleted on sight


async def test_unknown_and_empty_tokens(identity: IdentityStore) -> None:
    assert await identity.session_for_token("not-a-token") is None
    assert await identity.session_for_token("") is None
    assert await identity.signed_in("not-a-token") is None


async def test_every_session_has_its_own_tokens(identity: IdentityStore, tenant: Tenant) -> None:
    user = await new_user(identity, tenant)
    first, one = await identity.create_session(user)
    second, two = await identity.create_session(user)
    assert first != second and one.id != two.id and one.csrf_token != two.csrf_token


async def test_delete_one_session_or_all_of_a_user(identity: IdentityStore, tenant: Tenant) -> None:
    user, other = await new_user(identity, tenant), await new_user(identity, tenant)
    first, _ = await identity.create_session(user)
    second, _ = await identity.create_session(user)
    third, _ = await identity.create_session(user)
    others, _ = await identity.create_session(other)

    assert await identity.delete_session(first) is True
    assert await identity.delete_session(first) is False
    assert await identity.session_for_token(first) is None
    assert await identity.delete_sessions_of(user.id) == 2
    assert await identity.session_for_token(second) is None
    assert await identity.session_for_token(third) is None
    assert await identity.session_for_token(others) is not None


async def test_signed_in_reads_the_user_as_it_is_now(
    identity: IdentityStore, tenant: Tenant
) -> None:
    user = await new_user(identity, tenant)
    token, session = await identity.create_session(user)

    await identity.set_roles(user.id, ["exporter", "admin"])
    signed = await identity.signed_in(token)

    assert signed is not None
    assert (signed.session, signed.user.roles, signed.tenant) == (
        session,
        ["exporter", "admin"],
        tenant,
    )


async def test_disabling_a_user_ends_their_sessions(
    identity: IdentityStore, tenant: Tenant
) -> None:
    user = await new_user(identity, tenant)
    token, _ = await identity.create_session(user)

    await identity.disable_user(user.id)

    assert await identity.signed_in(token) is None
    assert await identity.session_for_token(token) is None


async def test_purge_expired_sessions(identity: IdentityStore, tenant: Tenant) -> None:
    user = await new_user(identity, tenant)
    past = utcnow() - timedelta(days=1)
    old, _ = await identity.create_session(
        user, now=past, policy=IdentityPolicy(session_lifetime=timedelta(hours=1))
    )
    fresh, _ = await identity.create_session(user)

    assert await identity.purge_expired_sessions() >= 1

    assert await identity.session_for_token(old) is None
    assert await identity.session_for_token(fresh) is not None
