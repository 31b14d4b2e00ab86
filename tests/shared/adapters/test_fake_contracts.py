"""The fakes of ``tests/fakes.py`` keep their adapters' behaviour: each check here runs on the
fake (marked ``unit``) and on the real adapter against the real server (``integration``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cdds_shared.errors import ConflictError, NotFoundError
from cdds_shared.ports import DocumentCollection, DocumentStore, IndexSpec, ObjectStore
from tests.fakes import FakeDocumentStore, FakeObjectStore

BACKENDS = [
    pytest.param("fake", marks=pytest.mark.unit),
    pytest.param("real", marks=pytest.mark.integration),
]


@pytest.fixture(params=BACKENDS)
def documents(request: pytest.FixtureRequest) -> DocumentStore:
    store: DocumentStore
    store = FakeDocumentStore() if request.param == "fake" else request.getfixturevalue("mongo")
    return store


@pytest.fixture
def c(documents: DocumentStore) -> DocumentCollection:
    return documents.collection(f"contract_{uuid.uuid4().hex[:10]}")


@pytest.fixture(params=BACKENDS)
def objects(request: pytest.FixtureRequest) -> ObjectStore:
    store: ObjectStore
    store = FakeObjectStore() if request.param == "fake" else request.getfixturevalue("minio")
    return store


T0 = datetime(2026, 3, 1, 10, 0, 0, 123456, tzinfo=UTC)
ROWS: list[dict[str, Any]] = [
    {"_id": "a", "tenant": "t1", "n": 1, "at": T0, "tags": ["x", "y"]},
    {"_id": "b", "tenant": "t1", "n": 2, "at": T0 + timedelta(hours=1), "gone": None},
    {"_id": "c", "tenant": "t2", "n": 3},
    {"_id": "d", "tenant": "t1", "n": 4, "at": T0 + timedelta(hours=2), "tags": ["y"]},
]


async def filled(c: DocumentCollection) -> DocumentCollection:
    for row in ROWS:
        await c.insert(row)
    return c


async def ids(c: DocumentCollection, filter: dict[str, Any], **options: Any) -> list[str]:
    return [d["_id"] async for d in c.find(filter, **options)]


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ({"tenant": "t1"}, ["a", "b", "d"]),
        ({"gone": None}, ["a", "b", "c", "d"]),  # None matches missing and null
        ({"at": None}, ["c"]),
        ({"tags": "y"}, ["a", "d"]),  # a list field matches one of its elements
        ({"n": {"$in": [1, 3, 9]}}, ["a", "c"]),
        ({"n": {"$nin": [1, 3]}}, ["b", "d"]),
        ({"at": {"$in": [None]}}, ["c"]),
        ({"n": {"$gt": 2}}, ["c", "d"]),
        ({"n": {"$gte": 2, "$lt": 4}}, ["b", "c"]),
        ({"at": {"$lte": T0 + timedelta(hours=1)}}, ["a", "b"]),  # missing is never less
        ({"at": {"$gt": T0}}, ["b", "d"]),
        ({"$or": [{"at": None}, {"n": {"$lt": 2}}]}, ["a", "c"]),
        ({"tenant": "t1", "$or": [{"n": 1}, {"n": 4}]}, ["a", "d"]),
    ],
)
async def test_filters(c: DocumentCollection, filter: dict[str, Any], expected: list[str]) -> None:
    await filled(c)
    assert sorted(await ids(c, filter)) == expected
    assert await c.count(filter) == len(expected)


async def test_sort_limit_skip(c: DocumentCollection) -> None:
    await filled(c)
    assert await ids(c, {}, sort=[("at", -1)]) == ["d", "b", "a", "c"]  # missing sorts lowest
    assert await ids(c, {}, sort=[("tenant", 1), ("n", -1)]) == ["d", "b", "a", "c"]
    assert await ids(c, {}, sort=[("n", 1)], limit=2, skip=1) == ["b", "c"]
    assert await ids(c, {"tenant": "t1"}, sort=[("n", 1)], skip=3) == []


async def test_values_read_back_as_bson_keeps_them(c: DocumentCollection) -> None:
    await c.insert({"_id": "v", "at": T0, "pair": ("p", 1), "raw": b"\x00\xff"})
    doc = await c.get("v")
    assert doc["at"] == T0.replace(microsecond=123000)
    assert doc["at"].utcoffset() == timedelta(0)
    assert doc["pair"] == ["p", 1]
    assert doc["raw"] == b"\x00\xff"
    doc["pair"].append("changed")  # a copy: the stored document is unchanged
    assert (await c.get("v"))["pair"] == ["p", 1]


async def test_insert_conflicts_and_missing_documents(c: DocumentCollection) -> None:
    await c.insert({"_id": "x", "k": 1})
    with pytest.raises(ConflictError):
        await c.insert({"_id": "x", "k": 2})
    with pytest.raises(NotFoundError):
        await c.get("y")
    assert await c.find_one({"_id": "y"}) is None
    generated = await c.insert({"k": 3})
    assert (await c.get(generated))["k"] == 3


async def test_unique_indexes(c: DocumentCollection) -> None:
    await c.ensure_indexes([IndexSpec((("tenant", 1), ("name", 1)), unique=True)])
    await c.insert({"_id": "1", "tenant": "t1", "name": "ann"})
    await c.insert({"_id": "2", "tenant": "t2", "name": "ann"})
    with pytest.raises(ConflictError):
        await c.insert({"_id": "3", "tenant": "t1", "name": "ann"})


async def test_update_and_delete_count_matches(c: DocumentCollection) -> None:
    await filled(c)
    assert await c.update({"tenant": "t1"}, {"seen": True}) == 3
    assert await c.count({"seen": True}) == 3
    assert await c.update({"tenant": "none"}, {"seen": True}) == 0
    assert await c.delete({"n": {"$gte": 3}}) == 2
    assert sorted(await ids(c, {})) == ["a", "b"]


async def test_find_one_and_update(c: DocumentCollection) -> None:
    await filled(c)
    after = await c.find_one_and_update(
        {"tenant": "t1", "n": {"$gt": 1}}, {"$set": {"claimed": True}}, sort=[("n", -1)]
    )
    assert after is not None and after["_id"] == "d" and after["claimed"] is True
    before = await c.find_one_and_update(
        {"_id": "a"}, {"$inc": {"n": 10}, "$set": {"x.y": 1}}, return_after=False
    )
    assert before is not None and before["n"] == 1 and "x" not in before
    assert (await c.get("a"))["n"] == 11
    assert (await c.get("a"))["x"] == {"y": 1}
    assert await c.find_one_and_update({"_id": "zz", "n": 1}, {"$set": {"k": 1}}) is None
    assert await c.count({"_id": "zz"}) == 0


async def test_upserts(c: DocumentCollection) -> None:
    update = {"$inc": {"failures": 1}, "$set": {"k": "v"}, "$setOnInsert": {"first": T0}}
    made = await c.find_one_and_update({"_id": "u", "kind": "name"}, update, upsert=True)
    assert made == {
        "_id": "u",
        "kind": "name",
        "failures": 1,
        "k": "v",
        "first": T0.replace(microsecond=123000),
    }
    again = await c.find_one_and_update(
        {"_id": "u"}, {**update, "$setOnInsert": {"first": None}}, upsert=True
    )
    assert again is not None and again["failures"] == 2 and again["first"] is not None
    inserted = await c.find_one_and_update(
        {"_id": "w"}, {"$set": {"k": 1}}, upsert=True, return_after=False
    )
    assert inserted is None and (await c.get("w"))["k"] == 1


async def test_objects_round_trip(objects: ObjectStore) -> None:
    key = f"contract/{uuid.uuid4().hex}/part.bin"
    data = bytes(range(256)) * 10

    async def chunks() -> AsyncIterator[bytes]:
        yield data[:1000]
        yield data[1000:]

    info = await objects.put_stream(key, chunks(), content_type="application/x-test")
    assert (info.key, info.size) == (key, len(data))
    assert (await objects.stat(key)).size == len(data)
    async with aclosing(objects.open_stream(key, offset=10, length=300)) as stream:
        assert b"".join([c async for c in stream]) == data[10:310]
    listed = [o.key async for o in objects.list(key.rsplit("/", 1)[0] + "/")]
    assert listed == [key]
    await objects.delete(key)
    await objects.delete(key)  # deleting a missing object is not an error
    with pytest.raises(NotFoundError):
        await objects.stat(key)


async def test_a_failing_stream_stores_nothing(objects: ObjectStore) -> None:
    key = f"contract/{uuid.uuid4().hex}/broken.bin"

    async def chunks() -> AsyncIterator[bytes]:
        yield b"x" * 100
        raise RuntimeError("source broke")

    with pytest.raises(RuntimeError, match="source broke"):
        await objects.put_stream(key, chunks())
    with pytest.raises(NotFoundError):
        await objects.stat(key)
