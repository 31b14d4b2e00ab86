"""The coalescer of identical reads (unit: an in-process counter stands in for the store's
``writes``; the gateway's lists run it against the real store in test_lists.py)."""

from __future__ import annotations

import asyncio

import pytest

from cdds_gateway.coalesce import Coalescer


class Reads:
    """A read whose answer is released by the test, counting how often it was computed."""

    def __init__(self) -> None:
        self.computed = 0
        self.release = asyncio.Event()

    async def __call__(self) -> int:
        self.computed += 1
        answer = self.computed
        await self.release.wait()
        return answer


async def _waiting(coalescer: Coalescer, flights: int) -> None:
    async with asyncio.timeout(5):
        while coalescer.in_flight != flights:  # noqa: ASYNC110 - a state of this process
            await asyncio.sleep(0)


async def test_identical_reads_in_flight_share_one_answer() -> None:
    read = Reads()
    coalescer = Coalescer(lambda: 0)

    callers = [asyncio.create_task(coalescer("runs", read)) for _ in range(20)]
    await _waiting(coalescer, 1)
    read.release.set()

    assert await asyncio.gather(*callers) == [1] * 20
    assert read.computed == 1
    assert coalescer.in_flight == 0
    assert await coalescer("runs", read) == 2  # landed: the next read asks again


async def test_other_keys_are_not_shared() -> None:
    read = Reads()
    coalescer = Coalescer(lambda: 0)

    first = asyncio.create_task(coalescer(("runs", "alice"), read))
    second = asyncio.create_task(coalescer(("runs", "bob"), read))
    await _waiting(coalescer, 2)
    read.release.set()

    assert sorted(await asyncio.gather(first, second)) == [1, 2]


async def test_a_read_after_a_write_does_not_join_a_flight_from_before_it() -> None:
    read = Reads()
    writes = [0]
    coalescer = Coalescer(lambda: writes[0])

    before = asyncio.create_task(coalescer("runs", read))
    await _waiting(coalescer, 1)
    writes[0] += 1  # e.g. the caller created a job through this gateway
    after = asyncio.create_task(coalescer("runs", read))
    await _waiting(coalescer, 2)
    read.release.set()

    assert (await before, await after) == (1, 2)


async def test_a_caller_that_leaves_does_not_cancel_the_read_for_the_others() -> None:
    read = Reads()
    coalescer = Coalescer(lambda: 0)

    leaving = asyncio.create_task(coalescer("runs", read))
    staying = asyncio.create_task(coalescer("runs", read))
    await _waiting(coalescer, 1)
    leaving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leaving
    read.release.set()

    assert await staying == 1


async def test_a_failure_reaches_every_caller_and_is_not_kept() -> None:
    calls = [0]
    release = asyncio.Event()

    async def failing() -> int:
        calls[0] += 1
        await release.wait()
        raise LookupError("run r-1 not found")

    coalescer = Coalescer(lambda: 0)
    callers = [asyncio.create_task(coalescer("run", failing)) for _ in range(3)]
    await _waiting(coalescer, 1)
    release.set()

    for outcome in await asyncio.gather(*callers, return_exceptions=True):
        assert isinstance(outcome, LookupError)
    assert calls[0] == 1
    with pytest.raises(LookupError):
        await coalescer("run", failing)  # asked again, not answered from the failure
    assert calls[0] == 2
