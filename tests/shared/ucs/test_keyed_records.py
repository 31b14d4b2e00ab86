"""``stream_batches`` on a real UCS database: ``(id, JSON, attachment bytes)`` per record, where the
JSON is exactly what ``stream`` yields and the attachment bytes exactly the length of the record's
``stream_attachments`` lines (each JSON plus its newline), so the exporter can reserve room for the
attachments before it writes the record."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from cdds_shared.adapters.postgres_ucs import PostgresUcsSource
from cdds_shared.errors import ValidationFailed
from cdds_shared.ports.ucs import KeyedRecord, UcsQuery
from cdds_shared.ucs.seed import seed

pytestmark = pytest.mark.integration

FETCH = 37  # small and odd: many batches, the last one short


@pytest.fixture(scope="module")
def tenant(ucs_dsn: str) -> int:
    """A random tenant seeded once for the module, next to a twin whose rows must not count."""
    tenant = random.randrange(1_000, 2**30)
    result = seed(ucs_dsn, tenant, 60, 800, seed=11)
    seed(ucs_dsn, tenant + 1, 60, 800, seed=11)  # same content, other tenant
    assert result.attachments > 0
    return tenant


@pytest.fixture
async def source(ucs_dsn: str) -> AsyncIterator[PostgresUcsSource]:
    src = PostgresUcsSource(ucs_dsn, fetch_size=FETCH)
    yield src
    await src.close()


async def batches_of(
    source: PostgresUcsSource, query: UcsQuery, *, attachment_sizes: bool
) -> list[list[KeyedRecord]]:
    return [b async for b in source.stream_batches(query, attachment_sizes=attachment_sizes)]


async def attachment_bytes(source: PostgresUcsSource, query: UcsQuery) -> Counter[str]:
    """Bytes of each interaction's attachment lines as the exporter writes them."""
    sizes: Counter[str] = Counter()
    async for line in source.stream_attachments(query):
        sizes[json.loads(line)["entityid"]] += len(line) + 1
    return sizes


async def query_named(source: PostgresUcsSource, tenant: int, name: str) -> UcsQuery:
    everything = UcsQuery(tenant)
    if name == "range":  # a key range cut at two of the tenant's own ids
        ids = [json.loads(r)["id"] async for r in source.stream(everything)]
        return everything.with_range(ids[100], ids[500])
    return UcsQuery(tenant, media_types=("email",)) if name == "email" else everything


@pytest.mark.parametrize("name", ["all", "email", "range"])
async def test_records_with_their_attachment_sizes(
    source: PostgresUcsSource, tenant: int, name: str
) -> None:
    query = await query_named(source, tenant, name)

    batches = await batches_of(source, query, attachment_sizes=True)
    keyed = [record for batch in batches for record in batch]

    # Batches of the fetch size, the last one short (an exact multiple ends with a full one)
    assert keyed, "the seed has rows in this selection"
    assert all(len(b) == FETCH for b in batches[:-1]) and 0 < len(batches[-1]) <= FETCH
    # Ids strictly ascending in byte order, and each the id of its JSON
    ids = [record_id for record_id, _, _ in keyed]
    assert ids == sorted(set(ids), key=str.encode)
    assert all(json.loads(raw)["id"] == record_id for record_id, raw, _ in keyed)
    # The JSON is byte for byte what stream() yields, record for record
    assert [raw for _, raw, _ in keyed] == [r async for r in source.stream(query)]
    # The size is that of the record's attachment lines, 0 without attachments
    expected = await attachment_bytes(source, query)
    assert {record_id: size for record_id, _, size in keyed if size} == dict(expected)
    assert all(isinstance(size, int) and size >= 0 for _, _, size in keyed)


async def test_some_interactions_have_attachments(source: PostgresUcsSource, tenant: int) -> None:
    keyed = [
        r for b in await batches_of(source, UcsQuery(tenant), attachment_sizes=True) for r in b
    ]
    with_attachments = [size for _, _, size in keyed if size]
    assert 0 < len(with_attachments) < len(keyed)
    assert sum(with_attachments) == sum((await attachment_bytes(source, UcsQuery(tenant))).values())


async def test_without_attachment_sizes_the_sizes_are_zero(
    source: PostgresUcsSource, tenant: int
) -> None:
    query = UcsQuery(tenant)
    with_sizes = await batches_of(source, query, attachment_sizes=True)
    without = await batches_of(source, query, attachment_sizes=False)

    assert [(i, raw) for b in without for i, raw, _ in b] == [
        (i, raw) for b in with_sizes for i, raw, _ in b
    ]
    assert {size for b in without for _, _, size in b} == {0}


async def test_contacts_stream_without_attachment_sizes(
    source: PostgresUcsSource, tenant: int
) -> None:
    query = UcsQuery(tenant, "contact")
    keyed = [r for b in await batches_of(source, query, attachment_sizes=False) for r in b]
    assert len(keyed) == 60
    assert [raw for _, raw, _ in keyed] == [r async for r in source.stream(query)]
    assert {size for _, _, size in keyed} == {0}


async def test_contacts_have_no_attachment_sizes(source: PostgresUcsSource, tenant: int) -> None:
    with pytest.raises(ValidationFailed, match="attachments belong to interactions"):
        await batches_of(source, UcsQuery(tenant, "contact"), attachment_sizes=True)


async def test_an_empty_selection_yields_no_batch(source: PostgresUcsSource) -> None:
    nobody = UcsQuery(random.randrange(2**30, 2**31 - 1))
    assert await batches_of(source, nobody, attachment_sizes=True) == []
