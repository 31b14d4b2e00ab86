"""The sign-in use case: a session only for an exporter, every attempt audited, and a session
presented with the attempt ended whatever the outcome."""

from __future__ import annotations

import pytest

from cdds_shared.audit import AuditLog
from cdds_shared.identity import (
    AccessDenied,
    IdentityStore,
    InvalidCredentials,
    SignInAttempt,
    Tenant,
    sign_in,
    sign_out,
)
from tests.shared.identity.conftest import PASSWORD, new_user

pytestmark = pytest.mark.integration


async def test_an_exporter_signs_in_and_out(
    identity: IdentityStore, audit: AuditLog, tenant: Tenant
) -> None:
    user = await new_user(identity, tenant)
    attempt = SignInAttempt(user.username, PASSWORD, remember_me=True, client="10.0.0.1")

    token, signed = await sign_in(identity, audit, attempt)

    assert (signed.user.id, signed.tenant, signed.session.remember_me) == (user.id, tenant, True)
    assert await identity.session_for_token(token) == signed.session
    [event] = await audit.find(tenant=tenant.name, actor=user.username, action="session.create")
    assert (event.outcome, event.target, event.client) == ("success", user.id, "10.0.0.1")
    assert event.detail["remember_me"] is True
    assert PASSWORD not in str(event.model_dump()) and token not in str(event.model_dump())

    await sign_out(
        identity,
        audit,
        session_id=signed.session.id,
        user_id=user.id,
        username=user.username,
        tenant=tenant.name,
    )
    assert await identity.session_for_token(token) is None
    assert await audit.find(tenant=tenant.name, action="session.delete", target=user.id)


async def test_no_session_without_the_exporter_role(
    identity: IdentityStore, audit: AuditLog, tenant: Tenant
) -> None:
    user = await new_user(identity, tenant, roles=("admin",))

    with pytest.raises(AccessDenied):
        await sign_in(identity, audit, SignInAttempt(user.username, PASSWORD))

    [event] = await audit.find(actor=user.username, action="session.create")
    assert (event.outcome, event.detail) == ("failure", {"reason": "no_exporter_role"})


async def test_failures_are_audited_with_their_reason(
    identity: IdentityStore, audit: AuditLog, tenant: Tenant
) -> None:
    user = await new_user(identity, tenant)
    with pytest.raises(InvalidCredentials):
        await sign_in(identity, audit, SignInAttempt(user.username, "wrong"))

    [event] = await audit.find(actor=user.username, action="session.create")
    assert (event.outcome, event.tenant, event.detail) == (
        "failure",
        tenant.name,
        {"reason": "wrong_password"},
    )


async def test_a_presented_session_ends_even_when_the_attempt_fails(
    identity: IdentityStore, audit: AuditLog, tenant: Tenant
) -> None:
    user = await new_user(identity, tenant)
    planted, _ = await identity.create_session(user)

    with pytest.raises(InvalidCredentials):
        await sign_in(identity, audit, SignInAttempt(user.username, "wrong", replaces=planted))

    assert await identity.session_for_token(planted) is None
