"""Checking passwords: the right user, one answer for every wrong credential, and a lockout
after repeated failures that ends by itself."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from cdds_shared.identity import (
    AccountLocked,
    IdentityPolicy,
    IdentityStore,
    InvalidCredentials,
    Passwords,
    Tenant,
    TenantRequired,
)
from cdds_shared.runs.model import utcnow
from tests.shared.identity.conftest import PASSWORD, new_name, new_tenant, new_user

pytestmark = pytest.mark.integration

POLICY = IdentityPolicy(max_failures=3, lockout=timedelta(seconds=2))


class CountingPasswords(Passwords):
    """Counts verifications, to see that unknown users cost as much as known ones."""

    def __init__(self) -> None:
        super().__init__()
        self.verified = 0

    async def verify(self, password_hash: str, password: str) -> bool:
        self.verified += 1
        return await super().verify(password_hash, password)


async def test_the_right_password_with_or_without_tenant(
    identity: IdentityStore, tenant: Tenant
) -> None:
    user = await new_user(identity, tenant)

    with_tenant = await identity.authenticate(user.username, tenant.name, PASSWORD)
    without = await identity.authenticate(f"  {user.username} ", None, PASSWORD)

    assert with_tenant.id == without.id == user.id
    assert without.last_login_at is not None


async def test_wrong_password(identity: IdentityStore, tenant: Tenant) -> None:
    user = await new_user(identity, tenant)

    with pytest.raises(InvalidCredentials) as caught:
        await identity.authenticate(user.username, tenant.name, "wrong")

    assert caught.value.reason == "wrong_password"
    assert str(caught.value) == "wrong username, tenant or password"
    assert (await identity.get_user(user.id)).failed_logins == 1


async def test_unknown_user_and_tenant_look_like_a_wrong_password(
    identity: IdentityStore, tenant: Tenant
) -> None:
    user = await new_user(identity, tenant)
    for username, tenant_name in [
        (new_name("nobody"), None),
        (new_name("nobody"), tenant.name),
        (user.username, new_name("other-tenant")),
    ]:
        with pytest.raises(InvalidCredentials) as caught:
            await identity.authenticate(username, tenant_name, PASSWORD)
        assert (caught.value.reason, str(caught.value)) == (
            "unknown_user",
            "wrong username, tenant or password",
        )


async def test_an_unknown_user_costs_one_verification_like_a_known_one(
    identity: IdentityStore, tenant: Tenant
) -> None:
    # Given a store counting argon2 verifications
    passwords = CountingPasswords()
    store = IdentityStore(identity._documents, passwords=passwords)
    user = await new_user(identity, tenant)

    # When a known and an unknown user fail
    for username in (user.username, new_name("nobody")):
        with pytest.raises(InvalidCredentials):
            await store.authenticate(username, None, "wrong")

    # Then each was one argon2 verification (the unknown one against a dummy hash)
    assert passwords.verified == 2


async def test_an_ambiguous_username_needs_the_tenant(
    identity: IdentityStore, tenant: Tenant
) -> None:
    name = new_name("shared")
    mine = await new_user(identity, tenant, name)
    await new_user(identity, await new_tenant(identity), name)

    with pytest.raises(TenantRequired):
        await identity.authenticate(name, None, PASSWORD)
    assert (await identity.authenticate(name, tenant.name, PASSWORD)).id == mine.id


async def test_a_disabled_user_cannot_sign_in(identity: IdentityStore, tenant: Tenant) -> None:
    user = await new_user(identity, tenant)
    await identity.disable_user(user.id)

    with pytest.raises(InvalidCredentials) as caught:
        await identity.authenticate(user.username, tenant.name, PASSWORD)

    assert caught.value.reason == "disabled"
    await identity.disable_user(user.id, disabled=False)
    assert (await identity.authenticate(user.username, tenant.name, PASSWORD)).id == user.id


async def test_lockout_after_max_failures_then_unlock(
    identity: IdentityStore, tenant: Tenant
) -> None:
    user = await new_user(identity, tenant)
    now = utcnow()

    # Given max_failures - 1 wrong passwords: still only "wrong"
    for _ in range(POLICY.max_failures - 1):
        with pytest.raises(InvalidCredentials):
            await identity.authenticate(user.username, None, "wrong", now=now, policy=POLICY)

    # When one more fails, the account locks for the lockout time
    with pytest.raises(AccountLocked) as locked:
        await identity.authenticate(user.username, None, "wrong", now=now, policy=POLICY)
    assert locked.value.just_locked
    assert locked.value.until == now + POLICY.lockout
    assert str(locked.value) == (
        f"too many failed sign-ins: try again after {locked.value.until:%H:%M} UTC"
    )

    # Then even the right password is refused while locked
    almost = now + POLICY.lockout - timedelta(milliseconds=1)
    with pytest.raises(AccountLocked) as still:
        await identity.authenticate(user.username, None, PASSWORD, now=almost, policy=POLICY)
    assert not still.value.just_locked

    # And once the lock ends, the right password works and the counters are cleared
    after = now + POLICY.lockout
    signed = await identity.authenticate(user.username, None, PASSWORD, now=after, policy=POLICY)
    assert (signed.failed_logins, signed.locked_until) == (0, None)


async def test_after_a_lock_ends_the_count_starts_again(
    identity: IdentityStore, tenant: Tenant
) -> None:
    user = await new_user(identity, tenant)
    now = utcnow()
    for _ in range(POLICY.max_failures - 1):
        with pytest.raises(InvalidCredentials):
            await identity.authenticate(user.username, None, "wrong", now=now, policy=POLICY)
    with pytest.raises(AccountLocked):
        await identity.authenticate(user.username, None, "wrong", now=now, policy=POLICY)

    later = now + POLICY.lockout
    with pytest.raises(InvalidCredentials):  # one failure after the lock is not a new lock
        await identity.authenticate(user.username, None, "wrong", now=later, policy=POLICY)
    assert (await identity.get_user(user.id)).failed_logins == 1


async def test_a_success_resets_the_failure_count(identity: IdentityStore, tenant: Tenant) -> None:
    user = await new_user(identity, tenant)
    for _ in range(POLICY.max_failures - 1):
        with pytest.raises(InvalidCredentials):
            await identity.authenticate(user.username, None, "wrong", policy=POLICY)

    await identity.authenticate(user.username, None, PASSWORD, policy=POLICY)

    assert (await identity.get_user(user.id)).failed_logins == 0
    with pytest.raises(InvalidCredentials):  # not locked by the next failure
        await identity.authenticate(user.username, None, "wrong", policy=POLICY)


async def test_concurrent_failures_all_count(identity: IdentityStore, tenant: Tenant) -> None:
    # Given as many concurrent wrong guesses as the limit
    user = await new_user(identity, tenant)
    guesses = [
        identity.authenticate(user.username, None, f"guess-{i}", policy=POLICY)
        for i in range(POLICY.max_failures)
    ]

    outcomes = await asyncio.gather(*guesses, return_exceptions=True)

    # Then every one counted: exactly one of them locked the account
    locked = [o for o in outcomes if isinstance(o, AccountLocked)]
    assert len(locked) == 1 and locked[0].just_locked
    assert all(isinstance(o, InvalidCredentials | AccountLocked) for o in outcomes)
    assert (await identity.get_user(user.id)).locked_at(utcnow())


async def test_no_lock_when_the_lockout_is_zero(identity: IdentityStore, tenant: Tenant) -> None:
    policy = IdentityPolicy(max_failures=1, lockout=timedelta(0))
    user = await new_user(identity, tenant)
    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            await identity.authenticate(user.username, None, "wrong", policy=policy)
    assert (await identity.authenticate(user.username, None, PASSWORD, policy=policy)).id == user.id


async def test_set_password_replaces_the_old_one_and_clears_a_lock(
    identity: IdentityStore, tenant: Tenant
) -> None:
    user = await new_user(identity, tenant)
    now = utcnow()
    for _ in range(POLICY.max_failures):
        with pytest.raises((InvalidCredentials, AccountLocked)):
            await identity.authenticate(user.username, None, "wrong", now=now, policy=POLICY)

    await identity.set_password(user.id, "a new password")

    with pytest.raises(InvalidCredentials):
        await identity.authenticate(user.username, None, PASSWORD, now=now, policy=POLICY)
    signed = await identity.authenticate(user.username, None, "a new password", now=now)
    assert signed.id == user.id
