"""``DispatchStore`` on the real document store: a partition's claim (a copy is refused, the same
message resumes, a lapsed claim is taken over, a finished partition is said so), and the
per-tenant dispatch lock that never loses a wake-up."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from cdds_shared.adapters.mongo import MongoDocumentStore
from cdds_shared.runs.dispatch_store import DISPATCHES, DispatchStore, dispatch_id
from cdds_shared.runs.model import utcnow

pytestmark = pytest.mark.integration
LEASE = timedelta(seconds=120)


@pytest.fixture
def store(documents: MongoDocumentStore) -> DispatchStore:
    return DispatchStore(documents)


async def test_a_partition_is_claimed_by_one_message_at_a_time(
    store: DispatchStore, documents: MongoDocumentStore
) -> None:
    run_id = uuid.uuid4().hex[:24]
    first, copy = str(uuid.uuid4()), str(uuid.uuid4())
    assert await store.add_dispatch(run_id, "t1", 0, first)
    assert not await store.add_dispatch(run_id, "t1", 0, copy)  # insert-once

    assert await store.claim(run_id, "t1", 0, first, LEASE) == "claimed"
    assert await store.claim(run_id, "t1", 0, copy, LEASE) == "busy"
    # RabbitMQ's redelivery of the same message after a crash resumes.
    assert await store.claim(run_id, "t1", 0, first, LEASE) == "claimed"

    # A claim not renewed within the lease is taken over; the old holder learns it.
    old = utcnow() - LEASE - timedelta(seconds=1)
    await documents.collection(DISPATCHES).find_one_and_update(
        {"_id": dispatch_id(run_id, 0)}, {"$set": {"claimed_at": old}}
    )
    assert await store.claim(run_id, "t1", 0, copy, LEASE) == "claimed"
    assert not await store.renew(run_id, 0, first)
    assert await store.renew(run_id, 0, copy)

    await store.finish(run_id, 0)
    assert await store.claim(run_id, "t1", 0, first, LEASE) == "finished"
    (doc,) = await store.dispatches([run_id])
    assert doc["claims"] == 3 and doc["claimed_by"] == copy


async def test_a_partition_no_dispatcher_recorded_is_recorded_and_claimed(
    store: DispatchStore,
) -> None:
    run_id = uuid.uuid4().hex[:24]
    assert await store.claim(run_id, "t1", 2, "m", LEASE) == "claimed"
    assert [d["partition"] for d in await store.dispatches([run_id])] == [2]


async def test_unclaimed_dispatches_are_found_for_republishing(store: DispatchStore) -> None:
    run_id = uuid.uuid4().hex[:24]
    await store.add_dispatch(run_id, "t1", 0, "a")
    await store.add_dispatch(run_id, "t1", 1, "b")
    await store.claim(run_id, "t1", 1, "b", LEASE)
    later = utcnow() + timedelta(seconds=1)
    assert [d["partition"] for d in await store.unclaimed([run_id], later)] == [0]
    assert await store.unclaimed([run_id], utcnow() - timedelta(hours=1)) == []
    assert await store.redispatched(dispatch_id(run_id, 0), "a2")
    assert not await store.redispatched(dispatch_id(run_id, 1), "b2")  # claimed meanwhile


async def test_a_wake_up_while_the_lock_is_held_asks_for_another_pass(
    store: DispatchStore,
) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    assert await store.acquire(tenant, "one", LEASE)
    assert not await store.acquire(tenant, "two", LEASE)
    assert await store.request_again(tenant)
    # The holder is told to pass again instead of releasing, then releases.
    assert not await store.release(tenant, "one", LEASE)
    assert await store.release(tenant, "one", LEASE)
    assert not await store.request_again(tenant)  # nobody holds it now
    assert await store.acquire(tenant, "two", LEASE)
    await store.abandon(tenant, "two")
    # A lock whose holder died is taken once its lease ran out.
    assert await store.acquire(tenant, "three", timedelta(seconds=-1))
    assert await store.acquire(tenant, "four", LEASE)
