"""PostgresUcsSource against a real PostgreSQL: filters, partitions, JSON, errors."""

from __future__ import annotations

import base64
import json
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from cdds_shared.adapters.postgres_ucs import PostgresUcsSource
from cdds_shared.errors import ConfigError, DependencyUnavailable, ValidationFailed
from cdds_shared.ports.ucs import UcsQuery, UcsSource
from cdds_shared.ucs.connect import aconnect
from cdds_shared.ucs.seed import SeedResult, seed

# The documented JSON members, in order (see cdds_shared.ports.ucs).
# fmt: off
INTERACTION_KEYS = ["id", "tenantId", "contactId", "entityTypeId", "mediaTypeId", "typeId",
                    "subtypeId", "status", "ownerId", "parentId", "threadId", "startDate",
                    "endDate", "modifiedDate", "subject", "theText", "structuredText",
                    "structuredTextMimeType", "theComment", "queueName", "attachedData"]
CONTACT_KEYS = ["id", "tenantId", "title", "firstName", "lastName", "emailAddress",
                "phoneNumber", "customerId", "company", "language", "timeZone", "createdDate",
                "modifiedDate"]
DOCUMENT_KEYS = ["id", "entityid", "tenantId", "theName", "mimeType", "theSize", "createdDate",
                 "content"]
# fmt: on


@dataclass(frozen=True)
class Seeded:
    tenant: int
    other: int
    result: SeedResult


@pytest.fixture(scope="module")
def seeded(ucs_dsn: str) -> Seeded:
    tenant = random.randrange(1_000, 2**30)
    other = tenant + 1  # same seed, so the same content under other ids: must never leak
    result = seed(ucs_dsn, tenant, 200, 2_000, seed=5)
    seed(ucs_dsn, other, 200, 2_000, seed=5)
    return Seeded(tenant, other, result)


@pytest.fixture
async def source(ucs_dsn: str) -> AsyncIterator[PostgresUcsSource]:
    src = PostgresUcsSource(ucs_dsn, fetch_size=97)  # small and odd: many fetches per stream
    yield src
    await src.close()


async def collect(stream: AsyncIterator[bytes]) -> list[dict[str, Any]]:
    out = []
    async for raw in stream:
        assert isinstance(raw, bytes)
        assert not raw.endswith(b"\n")
        out.append(json.loads(raw))
    return out


def ids(records: list[dict[str, Any]]) -> list[str]:
    return [r["id"] for r in records]


async def test_counts_match_the_seed(source: PostgresUcsSource, seeded: Seeded) -> None:
    counts = await source.counts(seeded.tenant)
    assert counts["contacts"] == seeded.result.contacts == 200
    assert counts["interactions"] == sum(counts["interactionsByMediaType"].values()) == 2_000
    assert counts["attachments"] == seeded.result.attachments > 0
    assert {"email", "chat", "voice"} <= set(counts["interactionsByMediaType"])
    assert await source.count(UcsQuery(seeded.tenant)) == 2_000
    assert await source.count(UcsQuery(seeded.tenant, "contact")) == 200


async def test_stream_renders_documented_json_in_key_order(
    source: PostgresUcsSource, seeded: Seeded
) -> None:
    records = await collect(source.stream(UcsQuery(seeded.tenant)))
    assert len(records) == 2_000
    assert all(list(r) == INTERACTION_KEYS for r in records)
    assert {r["tenantId"] for r in records} == {seeded.tenant}
    assert ids(records) == sorted(ids(records), key=str.encode)
    assert all(r["startDate"].endswith("+00:00") for r in records)
    assert any(isinstance(r["attachedData"], dict) for r in records)
    contacts = await collect(source.stream(UcsQuery(seeded.tenant, "contact")))
    assert len(contacts) == 200
    assert all(list(c) == CONTACT_KEYS for c in contacts)


async def test_text_survives_byte_for_byte(
    source: PostgresUcsSource, seeded: Seeded, ucs_dsn: str
) -> None:
    records = {r["id"]: r for r in await collect(source.stream(UcsQuery(seeded.tenant)))}
    with psycopg.connect(ucs_dsn) as conn:
        rows = conn.execute(
            "SELECT id, subject, the_text, structured_text FROM interaction WHERE tenant_id = %s",
            (seeded.tenant,),
        ).fetchall()
    for iid, subject, text, structured in rows:
        assert (records[iid]["subject"], records[iid]["theText"]) == (subject, text)
        assert records[iid]["structuredText"] == structured
    assert any("👨‍👩‍👧‍👦" in (r["subject"] or "") for r in records.values())


async def test_other_tenants_never_appear(source: PostgresUcsSource, seeded: Seeded) -> None:
    mine = set(ids(await collect(source.stream(UcsQuery(seeded.tenant)))))
    theirs = set(ids(await collect(source.stream(UcsQuery(seeded.other)))))
    assert len(mine) == len(theirs) == 2_000
    assert not mine & theirs
    assert await source.count(UcsQuery(random.randrange(2**30, 2**31 - 1))) == 0


@pytest.mark.parametrize("media", [("chat",), ("email", "sms"), ("no-such-media",)])
async def test_media_type_filter(
    source: PostgresUcsSource, seeded: Seeded, media: tuple[str, ...]
) -> None:
    query = UcsQuery(seeded.tenant, media_types=media)
    records = await collect(source.stream(query))
    by_media = (await source.counts(seeded.tenant))["interactionsByMediaType"]
    assert len(records) == sum(by_media.get(m, 0) for m in media) == await source.count(query)
    assert {r["mediaTypeId"] for r in records} <= set(media)


@pytest.mark.parametrize("record_type", ["interaction", "contact"])
async def test_timeframe_is_start_inclusive_end_exclusive(
    source: PostgresUcsSource, seeded: Seeded, record_type: str
) -> None:
    date = "startDate" if record_type == "interaction" else "createdDate"
    everything = await collect(source.stream(UcsQuery(seeded.tenant, record_type)))  # type: ignore[arg-type]
    dates = sorted(datetime.fromisoformat(r[date]) for r in everything)
    start, end = dates[len(dates) // 4], dates[3 * len(dates) // 4]
    query = UcsQuery(seeded.tenant, record_type, start=start, end=end)  # type: ignore[arg-type]
    got = await collect(source.stream(query))
    expected = [r for r in everything if start <= datetime.fromisoformat(r[date]) < end]
    assert ids(got) == ids(expected)
    assert len(got) == await source.count(query) == len(dates) // 2


async def test_key_range_is_after_exclusive_until_inclusive(
    source: PostgresUcsSource, seeded: Seeded
) -> None:
    everything = ids(await collect(source.stream(UcsQuery(seeded.tenant))))
    after, until = everything[100], everything[900]
    got = ids(await collect(source.stream(UcsQuery(seeded.tenant).with_range(after, until))))
    assert got == everything[101:901]
    assert (
        ids(await collect(source.stream(UcsQuery(seeded.tenant, until_id=after))))
        == everything[:101]
    )


@pytest.mark.parametrize("parts", [2, 3, 7, 64])
async def test_split_keys_partition_every_row_exactly_once(
    source: PostgresUcsSource, seeded: Seeded, parts: int
) -> None:
    query = UcsQuery(
        seeded.tenant, media_types=("email", "voice"), start=datetime(2024, 6, 1, tzinfo=UTC)
    )
    keys = await source.split_keys(query, parts)
    assert keys == sorted(set(keys), key=str.encode)
    assert len(keys) == parts - 1
    pieces = [ids(await collect(source.stream(q))) for q in query.partition(keys)]
    assert [p for p in pieces if p]  # sanity
    assert [i for p in pieces for i in p] == ids(await collect(source.stream(query)))
    sizes = [len(p) for p in pieces]
    assert max(sizes) - min(sizes) <= 2  # even parts


async def test_split_keys_with_fewer_rows_than_parts(
    source: PostgresUcsSource, ucs_dsn: str, tenant_id: int
) -> None:
    assert await source.split_keys(UcsQuery(tenant_id), 8) == []  # empty tenant
    seed(ucs_dsn, tenant_id, 1, 3, seed=1)
    keys = await source.split_keys(UcsQuery(tenant_id), 8)
    assert len(keys) <= 2
    parts = UcsQuery(tenant_id).partition(keys)
    counts = [await source.count(q) for q in parts]
    assert sum(counts) == 3
    assert all(counts)
    assert await source.split_keys(UcsQuery(tenant_id), 1) == []


async def test_attachments_of_the_selected_interactions(
    source: PostgresUcsSource, seeded: Seeded
) -> None:
    query = UcsQuery(seeded.tenant, media_types=("email",))
    interactions = set(ids(await collect(source.stream(query))))
    docs = await collect(source.stream_attachments(query))
    assert len(docs) == seeded.result.attachments
    assert all(list(d) == DOCUMENT_KEYS for d in docs)
    assert {d["entityid"] for d in docs} <= interactions
    order = [(d["entityid"].encode(), d["id"].encode()) for d in docs]
    assert order == sorted(order)
    assert all(len(base64.b64decode(d["content"], validate=True)) == d["theSize"] for d in docs)
    chats = UcsQuery(seeded.tenant, media_types=("chat",))
    assert await collect(source.stream_attachments(chats)) == []


async def test_attachments_follow_the_key_range(source: PostgresUcsSource, seeded: Seeded) -> None:
    everything = await collect(source.stream_attachments(UcsQuery(seeded.other)))
    until = sorted({d["entityid"] for d in everything})[len(everything) // 4]
    ranged = await collect(source.stream_attachments(UcsQuery(seeded.other, until_id=until)))
    assert ranged
    assert ranged == [d for d in everything if d["entityid"] <= until]
    assert {d["tenantId"] for d in everything} == {seeded.other}


def test_the_adapter_implements_the_port() -> None:
    port: UcsSource = PostgresUcsSource("postgresql://cdds@127.0.0.1/ucs")  # checked by mypy
    assert isinstance(port, PostgresUcsSource)


def test_invalid_queries_are_refused() -> None:
    naive = datetime(2024, 1, 1)
    aware = datetime(2024, 1, 1, tzinfo=UTC)
    for bad in (
        lambda: UcsQuery(1, "contact", media_types=("email",)),
        lambda: UcsQuery(1, start=naive),
        lambda: UcsQuery(1, start=aware, end=aware),
        lambda: UcsQuery(1, after_id="B", until_id="A"),
        lambda: UcsQuery(1, "calls"),  # type: ignore[arg-type]
        lambda: PostgresUcsSource("postgresql://x").stream_attachments(UcsQuery(1, "contact")),
    ):
        with pytest.raises(ValidationFailed):
            bad()


async def test_ping_and_read_only_connections(source: PostgresUcsSource, ucs_dsn: str) -> None:
    await source.ping()
    conn = await aconnect(ucs_dsn, read_only=True, autocommit=True)
    try:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            await conn.execute("DELETE FROM interaction WHERE tenant_id = -1")
    finally:
        await conn.close()


async def test_reading_connections_cost_random_reads_as_on_ssds_unless_the_dsn_says(
    ucs_dsn: str,
) -> None:
    """With PostgreSQL's default random_page_cost (4) a key range is read by the primary key and
    the other tenants' rows in it filtered out; the reading connections lower it, and an option
    of the DSN still wins."""
    for dsn, expected in (
        (ucs_dsn, "1.1"),
        (make_conninfo(ucs_dsn, options="-c random_page_cost=2"), "2"),
    ):
        conn = await aconnect(dsn, read_only=True, autocommit=True)
        try:
            shown = await (await conn.execute("SHOW random_page_cost")).fetchone()
            assert shown == (expected,)
        finally:
            await conn.close()
    writer = await aconnect(ucs_dsn, autocommit=True)
    try:
        assert await (await writer.execute("SHOW random_page_cost")).fetchone() != ("1.1",)
    finally:
        await writer.close()


async def test_ping_wrong_password_is_one_line_without_the_password(
    ucs_dsn: str, unique: str
) -> None:
    src = PostgresUcsSource(make_conninfo(ucs_dsn, password=f"pw-{unique}"))
    with pytest.raises(DependencyUnavailable) as caught:
        await src.ping()
    message = str(caught.value)
    assert message.startswith("CDDS_UCS__DSN: ")
    assert "password authentication failed" in message
    assert unique not in message
    assert "\n" not in message


async def test_ping_unreachable_and_unmigrated(fresh_dsn: str) -> None:
    with pytest.raises(DependencyUnavailable, match="CDDS_UCS__DSN"):
        await PostgresUcsSource(make_conninfo(fresh_dsn, port=1)).ping()
    with pytest.raises(ConfigError, match="ucs migrate"):
        await PostgresUcsSource(fresh_dsn).ping()
    src = PostgresUcsSource(make_conninfo(fresh_dsn, port=1))
    with pytest.raises(DependencyUnavailable):
        await collect(src.stream(UcsQuery(1)))
