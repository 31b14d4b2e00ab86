"""Sign-in throttling that gives nothing away: an unknown name locks exactly like a
real account, and one client address has a budget of failures across all names."""

from __future__ import annotations

import contextlib
import re
import uuid
from datetime import timedelta

import httpx

from cdds_shared.identity import (
    AccountLocked,
    IdentityStore,
    InvalidCredentials,
    Passwords,
    Tenant,
)
from cdds_shared.runs.model import utcnow
from tests.gateway.conftest import PASSWORD, Gateway, new_name, new_user

GATEWAY = {"login_max_failures": 3, "login_lockout_seconds": 600, "login_ip_max_failures": 8}
MAX_FAILURES = GATEWAY["login_max_failures"]


def _client(gateway: Gateway) -> httpx.AsyncClient:
    """A client from an address of its own (the address budget is per address)."""
    address = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"
    transport = httpx.ASGITransport(app=gateway.app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://gateway.test")


def _shape(response: httpx.Response) -> tuple[int, str, str, str | None]:
    """What a caller can tell: status, error, detail (times blanked) and Retry-After."""
    body = response.json()
    detail = re.sub(r"\d\d:\d\d", "HH:MM", body.get("detail", ""))
    wait = response.headers.get("retry-after")
    return response.status_code, body["error"], detail, None if wait is None else "set"


async def _fail(client: httpx.AsyncClient, username: str, times: int) -> list[httpx.Response]:
    return [
        await client.post("/api/v1/session", json={"username": username, "password": "wrong"})
        for _ in range(times)
    ]


async def test_an_unknown_name_locks_like_a_real_account(gateway: Gateway, tenant: Tenant) -> None:
    real = await new_user(gateway, tenant)
    async with _client(gateway) as one, _client(gateway) as other:
        # When a real and an unknown name fail max_failures + 1 times each
        real_answers = await _fail(one, real.username, MAX_FAILURES + 1)
        unknown_answers = await _fail(other, new_name("nobody"), MAX_FAILURES + 1)
    # Then the answers are the same, one by one: 401s, then the lock with Retry-After
    assert [_shape(r) for r in real_answers] == [_shape(r) for r in unknown_answers]
    assert [r.status_code for r in real_answers] == [401] * (MAX_FAILURES - 1) + [429, 429]
    for locked in (real_answers[-1], unknown_answers[-1]):
        assert locked.json()["error"] == "locked"
        assert 590 <= int(locked.headers["retry-after"]) <= 600


async def test_a_locked_unknown_name_stays_locked_whatever_the_password(
    gateway: Gateway,
) -> None:
    name = new_name("ghost")
    async with _client(gateway) as client:
        await _fail(client, name, MAX_FAILURES)
        again = await client.post("/api/v1/session", json={"username": name, "password": PASSWORD})
    assert (again.status_code, again.json()["error"]) == (429, "locked")
    reasons = [
        e.detail["reason"]
        for e in await gateway.deps.audit.find(actor=name, action="session.create")
    ]
    assert sorted(reasons) == sorted(["locked"] + ["unknown_user"] * MAX_FAILURES)


class CountingPasswords(Passwords):
    """The real argon2id hasher, counting the verifies (each costs about 0.1 s)."""

    def __init__(self) -> None:
        super().__init__()
        self.verifies = 0

    def _verify(self, password_hash: str, password: str) -> bool:
        self.verifies += 1
        return super()._verify(password_hash, password)


async def test_unknown_and_real_names_cost_the_same_work(gateway: Gateway, tenant: Tenant) -> None:
    # Timing is the work done: one argon2 verify per guess for both, none once locked (wall
    # clock on a shared 2-core machine would only measure the neighbours).
    passwords = CountingPasswords()
    identity = IdentityStore(gateway.deps.documents, gateway.identity.policy, passwords=passwords)
    real = await new_user(gateway, tenant)

    async def verifies(username: str) -> list[int]:
        counts = []
        for _ in range(MAX_FAILURES + 1):
            before = passwords.verifies
            with contextlib.suppress(InvalidCredentials, AccountLocked):
                await identity.authenticate(username, None, "wrong")
            counts.append(passwords.verifies - before)
        return counts

    expected = [1] * MAX_FAILURES + [0]
    assert await verifies(real.username) == expected
    assert await verifies(new_name("x")) == expected


async def test_one_address_has_a_budget_of_failures_across_names(
    gateway: Gateway, tenant: Tenant
) -> None:
    budget = GATEWAY["login_ip_max_failures"]
    account = await new_user(gateway, tenant)
    async with _client(gateway) as sprayer, _client(gateway) as bystander:
        # Given one wrong password for each of `budget` different names from one address
        for _ in range(budget):
            await _fail(sprayer, new_name("spray"), 1)
        # Then the address is refused, even with the right password of a real account
        refused = await sprayer.post(
            "/api/v1/session", json={"username": account.username, "password": PASSWORD}
        )
        assert (refused.status_code, refused.json()["error"]) == (429, "throttled")
        assert 1 <= int(refused.headers["retry-after"]) <= 900
        assert "cdds_session" not in refused.cookies
        # And another address signs in as usual
        fine = await bystander.post(
            "/api/v1/session", json={"username": account.username, "password": PASSWORD}
        )
        assert fine.status_code == 200
    refusals = await gateway.deps.audit.find(actor=account.username, action="session.create")
    assert "throttled" in [e.detail.get("reason") for e in refusals]


async def test_the_sign_in_page_shows_the_lock_with_retry_after(gateway: Gateway) -> None:
    name = new_name("page")
    form = {"step": "password", "username": name, "password": "wrong"}
    async with _client(gateway) as client:
        answers = [await client.post("/login", data=form) for _ in range(MAX_FAILURES)]
    assert [a.status_code for a in answers] == [401] * (MAX_FAILURES - 1) + [429]
    assert "too many failed sign-ins" in answers[-1].text
    assert int(answers[-1].headers["retry-after"]) > 0


async def test_stale_counters_are_purged(gateway: Gateway) -> None:
    async with _client(gateway) as client:
        await _fail(client, new_name("old"), 1)
    throttle = gateway.identity.throttle
    assert await throttle.purge(utcnow()) == 0  # nothing is stale yet
    assert await throttle.purge(utcnow() + timedelta(days=31)) >= 2  # the name and the window
