"""Streaming keeps Python memory flat: the peak does not grow with the number of rows."""

from __future__ import annotations

import random
import tracemalloc

import pytest

from cdds_shared.adapters.postgres_ucs import PostgresUcsSource
from cdds_shared.ports.ucs import UcsQuery
from cdds_shared.ucs.seed import seed

pytestmark = pytest.mark.slow

ROWS = 100_000
FETCH_SIZE = 1_000  # rows per fetch: what may be alive at once (~3 MB of JSON here)


@pytest.fixture(scope="module")
def big_tenant(ucs_dsn: str) -> int:
    tenant = random.randrange(1_000, 2**31 - 1)
    seed(ucs_dsn, tenant, ROWS // 10, ROWS, seed=99)
    return tenant


async def _stream_peak(source: PostgresUcsSource, query: UcsQuery) -> tuple[int, int, int]:
    """(records, bytes, tracemalloc peak) of streaming ``query``."""
    records = size = 0
    tracemalloc.start()
    try:
        async for raw in source.stream(query):
            records += 1
            size += len(raw)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return records, size, peak


async def test_streaming_100k_rows_keeps_memory_flat(ucs_dsn: str, big_tenant: int) -> None:
    source = PostgresUcsSource(ucs_dsn, fetch_size=FETCH_SIZE)
    try:
        query = UcsQuery(big_tenant)
        fifth = query.with_range(None, (await source.split_keys(query, 5))[0])
        small = await _stream_peak(source, fifth)
        large = await _stream_peak(source, query)
    finally:
        await source.close()

    assert small[0] == ROWS // 5
    assert large[0] == ROWS
    assert large[1] > 200_000_000  # multi-KB records: ~2.7 KB each on average
    assert large[2] < 6_000_000, f"peak {large[2]} bytes"
    assert large[2] < small[2] * 1.25 + 500_000, f"peak grew: {small[2]} -> {large[2]}"
