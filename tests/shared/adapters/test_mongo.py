"""MongoDocumentStore against the real server (FerretDB locally, MongoDB 7 in containers)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from cdds_shared.adapters.mongo import LOCKS_COLLECTION, MongoDocumentStore
from cdds_shared.errors import ConflictError, DependencyUnavailable, NotFoundError
from cdds_shared.ports import ASCENDING, DESCENDING, DocumentStore, IndexSpec
from cdds_shared.settings import MongoSettings

pytestmark = pytest.mark.integration


def test_adapter_satisfies_the_port(mongo: MongoDocumentStore) -> None:
    store: DocumentStore = mongo  # checked by mypy; here it documents the intent
    assert store.collection("x").name == "x"


async def test_insert_get_update_delete(mongo: MongoDocumentStore, unique: str) -> None:
    runs = mongo.collection(f"runs_{unique}")
    doc = {"_id": "run-1", "tenant": "t1", "status": "queued", "emoji": "📞"}

    assert await runs.insert(doc) == "run-1"
    assert await runs.get("run-1") == doc
    assert await runs.update({"_id": "run-1"}, {"status": "running"}) == 1
    assert (await runs.get("run-1"))["status"] == "running"
    assert await runs.update({"_id": "nope"}, {"status": "running"}) == 0
    assert await runs.delete({"_id": "run-1"}) == 1
    assert await runs.delete({"_id": "run-1"}) == 0
    with pytest.raises(NotFoundError):
        await runs.get("run-1")


async def test_writes_counts_each_write_and_no_read(mongo: MongoDocumentStore, unique: str) -> None:
    runs = mongo.collection(f"runs_{unique}")
    before = mongo.writes

    await runs.insert({"_id": "r", "n": 0})
    await runs.update({"_id": "r"}, {"n": 1})
    await runs.find_one_and_update({"_id": "r"}, {"$inc": {"n": 1}})
    assert mongo.writes == before + 3
    await runs.find_one({"_id": "r"})
    assert [d async for d in runs.find({})] and await runs.count({}) == 1
    assert mongo.writes == before + 3  # reads do not count
    with pytest.raises(ConflictError):
        await runs.insert({"_id": "r"})
    await runs.delete({"_id": "r"})
    assert mongo.writes == before + 5  # a failed write counts too: it may have been applied


async def test_insert_does_not_mutate_and_returns_generated_id(
    mongo: MongoDocumentStore, unique: str
) -> None:
    audit = mongo.collection(f"audit_{unique}")
    doc = {"event": "login"}
    new_id = await audit.insert(doc)
    assert "_id" not in doc
    assert (await audit.get(new_id))["event"] == "login"


async def test_find_filters_sorts_limits_and_counts(mongo: MongoDocumentStore, unique: str) -> None:
    runs = mongo.collection(f"runs_{unique}")
    for i in range(6):
        await runs.insert({"_id": f"r{i}", "tenant": "t1" if i % 2 else "t2", "n": i})

    found = [d["n"] async for d in runs.find({"tenant": "t1"}, sort=[("n", DESCENDING)])]
    assert found == [5, 3, 1]
    first_two = [d["_id"] async for d in runs.find(sort=[("n", ASCENDING)], limit=2)]
    assert first_two == ["r0", "r1"]
    assert await runs.count({"tenant": "t2"}) == 3
    assert await runs.count() == 6
    async with contextlib.aclosing(runs.find()) as stream:
        async for _ in stream:
            break  # stopping early closes the cursor


async def test_unique_index_turns_duplicates_into_conflicts(
    mongo: MongoDocumentStore, unique: str
) -> None:
    users = mongo.collection(f"users_{unique}")
    spec = IndexSpec(keys=[("tenant", ASCENDING), ("username", ASCENDING)], unique=True)
    await users.ensure_indexes([spec])
    await users.ensure_indexes([spec])  # idempotent

    await users.insert({"tenant": "t1", "username": "ann"})
    await users.insert({"tenant": "t2", "username": "ann"})
    with pytest.raises(ConflictError):
        await users.insert({"tenant": "t1", "username": "ann"})
    with pytest.raises(ConflictError):
        await users.insert({"_id": (await users.find_one({"tenant": "t2"}) or {})["_id"]})


async def test_find_one_and_update_upserts_and_returns_documents(
    mongo: MongoDocumentStore, unique: str
) -> None:
    runs = mongo.collection(f"runs_{unique}")
    created = await runs.find_one_and_update(
        {"_id": "run-9"}, {"$setOnInsert": {"status": "queued"}, "$inc": {"seen": 1}}, upsert=True
    )
    assert created == {"_id": "run-9", "status": "queued", "seen": 1}

    before = await runs.find_one_and_update(
        {"_id": "run-9", "status": "queued"}, {"$set": {"status": "running"}}, return_after=False
    )
    assert before is not None
    assert before["status"] == "queued"
    # The transition happened once: a redelivered message finds nothing to move.
    again = await runs.find_one_and_update(
        {"_id": "run-9", "status": "queued"}, {"$set": {"status": "running"}}
    )
    assert again is None
    assert (await runs.get("run-9"))["status"] == "running"


@pytest.fixture(params=["auto", "locked"])
async def contended(
    request: pytest.FixtureRequest, mongo: MongoDocumentStore, mongo_settings: MongoSettings
) -> AsyncIterator[list[MongoDocumentStore]]:
    """Two independent stores (separate clients, like two processes) on the same database.

    ``auto`` uses the server's own atomicity where it has it (MongoDB) and document locks on
    FerretDB; ``locked`` forces the lock path so it is exercised on MongoDB too.
    """
    lock = None if request.param == "auto" else True
    async with (
        MongoDocumentStore(mongo_settings, lock_documents=lock) as one,
        MongoDocumentStore(mongo_settings, lock_documents=lock) as two,
    ):
        yield [one, two]
    assert await mongo.collection(LOCKS_COLLECTION).count() == 0  # every lock was released


async def test_concurrent_increments_are_all_counted(
    contended: list[MongoDocumentStore], unique: str
) -> None:
    async def bump(store: MongoDocumentStore) -> None:
        counters = store.collection(f"counters_{unique}")
        await counters.find_one_and_update({"_id": "parts"}, {"$inc": {"n": 1}}, upsert=True)

    await asyncio.gather(*(bump(contended[i % 2]) for i in range(20)))
    assert (await contended[0].collection(f"counters_{unique}").get("parts"))["n"] == 20


async def test_only_one_of_many_claimants_wins(
    contended: list[MongoDocumentStore], unique: str
) -> None:
    await contended[0].collection(f"jobs_{unique}").insert({"_id": "job-1", "claimed_by": None})

    async def claim(worker: int) -> bool:
        jobs = contended[worker % 2].collection(f"jobs_{unique}")
        won = await jobs.find_one_and_update(
            {"_id": "job-1", "claimed_by": None}, {"$set": {"claimed_by": worker}}
        )
        return won is not None

    results = await asyncio.gather(*(claim(i) for i in range(20)))
    assert results.count(True) == 1
    owner = (await contended[0].collection(f"jobs_{unique}").get("job-1"))["claimed_by"]
    assert owner == results.index(True)


async def test_claims_of_the_next_due_job_never_collide(
    contended: list[MongoDocumentStore], unique: str
) -> None:
    jobs = contended[0].collection(f"jobs_{unique}")
    for i in range(5):
        await jobs.insert({"_id": f"job-{i}", "due": i, "claimed_by": None})

    async def claim_next(worker: int) -> str | None:
        store = contended[worker % 2].collection(f"jobs_{unique}")
        won = await store.find_one_and_update(
            {"claimed_by": None}, {"$set": {"claimed_by": worker}}, sort=[("due", ASCENDING)]
        )
        return None if won is None else str(won["_id"])

    claimed = await asyncio.gather(*(claim_next(i) for i in range(12)))
    assert sorted(c for c in claimed if c) == [f"job-{i}" for i in range(5)]
    assert claimed.count(None) == 7


async def test_a_crashed_holders_lock_is_taken_over(
    mongo_settings: MongoSettings, unique: str
) -> None:
    async with MongoDocumentStore(mongo_settings, lock_documents=True, lock_lease=1.0) as store:
        runs = store.collection(f"runs_{unique}")
        await runs.insert({"_id": "run-1", "status": "queued"})
        long_ago = datetime.now(UTC) - timedelta(hours=1)
        locks = store.collection(LOCKS_COLLECTION)
        await locks.insert({"_id": f"runs_{unique}:'run-1'", "token": "crashed", "at": long_ago})

        moved = await runs.find_one_and_update({"_id": "run-1"}, {"$set": {"status": "running"}})

        assert moved is not None
        assert moved["status"] == "running"
        await locks.delete({"_id": "end:crashed"})


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_ping_of_unreachable_server_names_the_setting() -> None:
    url = f"mongodb://cdds:s3cret-pw@127.0.0.1:{_closed_port()}/"
    settings = MongoSettings(url=SecretStr(url), database="cdds_unreachable")
    async with MongoDocumentStore(settings, timeout=0.5) as store:
        with pytest.raises(DependencyUnavailable) as caught:
            await store.ping()
    assert caught.value.setting == "CDDS_MONGO__URL"
    assert "127.0.0.1" in str(caught.value)
    assert "s3cret-pw" not in str(caught.value)
    assert "Topology" not in str(caught.value)
