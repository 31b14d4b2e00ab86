"""``Rows``: UCS batches consumed record by record, with exactly one batch fetched ahead and the
fetch cancelled and the stream closed when the exporter stops early."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from cdds_exporter.rows import Rows
from cdds_shared.ports.ucs import KeyedRecord

WAIT = 5.0  # bound of every wait for an event; never reached when the code is right


def records(n: int) -> list[KeyedRecord]:
    return [(uuid.uuid4().hex, b'{"id": 1}', i) for i in range(n)]


class Feeder:
    """A stand-in for ``stream_batches``: batch ``i`` is asked for (``asked[i]``), then handed out
    once the test releases it (``release(i)``); how the generator ended is kept."""

    def __init__(self, batches: list[list[KeyedRecord]], *, released: bool = False) -> None:
        self.batches = batches
        self.asked = [asyncio.Event() for _ in range(len(batches) + 1)]  # +1: asked for the end
        self.ready = [asyncio.Event() for _ in batches]
        self.handed = [asyncio.Event() for _ in batches]
        self.ended_by: type[BaseException] | None = None
        self.closed = False
        if released:
            for event in self.ready:
                event.set()

    async def generate(self) -> AsyncIterator[list[KeyedRecord]]:
        try:
            for i, batch in enumerate(self.batches):
                self.asked[i].set()
                await self.ready[i].wait()
                self.handed[i].set()
                yield batch
            self.asked[-1].set()
        except BaseException as exc:
            self.ended_by = type(exc)
            raise
        finally:
            self.closed = True

    def release(self, i: int) -> None:
        self.ready[i].set()

    @property
    def asked_for(self) -> int:
        return sum(e.is_set() for e in self.asked)


async def wait(event: asyncio.Event) -> None:
    await asyncio.wait_for(event.wait(), WAIT)


async def test_peek_and_consume_across_batches() -> None:
    first, second, third = records(3), records(1), records(2)
    feeder = Feeder([first, [], second, third], released=True)

    async with Rows(feeder.generate()) as rows:
        assert await rows.peek() == first
        rows.consume(2)
        assert await rows.peek() == first[2:]
        assert await rows.peek() == first[2:]  # peeking does not consume
        rows.consume(1)
        assert await rows.peek() == second  # the empty batch is skipped
        rows.consume(5)  # more than is left: the batch is done, the next is not touched
        assert await rows.peek() == third
        rows.consume(2)
        assert await rows.peek() is None
        assert await rows.peek() is None  # the end stays the end

    assert feeder.closed and feeder.ended_by is None


async def test_an_empty_stream_is_at_its_end() -> None:
    feeder = Feeder([])
    async with Rows(feeder.generate()) as rows:
        assert await rows.peek() is None
    assert feeder.closed


async def test_exactly_one_batch_is_fetched_ahead() -> None:
    batches = [records(2) for _ in range(4)]
    feeder = Feeder(batches)
    feeder.release(0)

    async with Rows(feeder.generate()) as rows:
        # Given the first batch in hand, the next one is asked for at once
        assert await rows.peek() == batches[0]
        await wait(feeder.asked[1])
        feeder.release(1)
        await wait(feeder.handed[1])
        # ... and fetched, but no further one while the first is not consumed
        assert feeder.asked_for == 2
        rows.consume(1)
        assert await rows.peek() == batches[0][1:]
        assert feeder.asked_for == 2

        # When the first batch is consumed, the prefetched one is there without waiting
        rows.consume(1)
        assert await rows.peek() == batches[1]
        # Then the one after is asked for, still one ahead
        await wait(feeder.asked[2])
        assert feeder.asked_for == 3

        # When the consumer is faster than the source, it waits for the batch in flight
        rows.consume(2)
        peeking = asyncio.create_task(rows.peek())
        feeder.release(2)
        assert await asyncio.wait_for(peeking, WAIT) == batches[2]
        await wait(feeder.asked[3])
        assert feeder.asked_for == 4


async def test_close_cancels_the_fetch_in_flight_and_closes_the_stream() -> None:
    # Given a batch in hand and the next one being fetched (the source has not answered)
    batches = [records(3), records(3)]
    feeder = Feeder(batches)
    feeder.release(0)
    rows = Rows(feeder.generate())
    assert await rows.peek() == batches[0]
    await wait(feeder.asked[1])

    # When the exporter stops early
    await rows.__aexit__(None, None, None)

    # Then the fetch was cancelled inside the source and the stream is closed
    assert feeder.ended_by is asyncio.CancelledError
    assert feeder.closed
    assert not feeder.handed[1].is_set()


async def test_close_before_the_prefetch_ran_closes_the_stream() -> None:
    batches = [records(1), records(1)]
    feeder = Feeder(batches, released=True)
    async with Rows(feeder.generate()) as rows:
        assert await rows.peek() == batches[0]
        # leaving at once: the prefetch task has not started yet
    assert feeder.closed
    assert feeder.ended_by is GeneratorExit  # closed where it stood, after the first batch
    assert feeder.asked_for == 1


async def test_close_after_an_error_in_the_consumer() -> None:
    feeder = Feeder([records(1), records(1)])
    feeder.release(0)

    async def export() -> None:
        async with Rows(feeder.generate()) as rows:
            await rows.peek()
            await wait(feeder.asked[1])
            raise RuntimeError("zip writer failed")

    with pytest.raises(RuntimeError, match="zip writer failed"):
        await export()
    assert feeder.ended_by is asyncio.CancelledError and feeder.closed


async def test_a_failing_fetch_surfaces_on_peek() -> None:
    async def failing() -> AsyncIterator[list[KeyedRecord]]:
        yield records(1)
        raise ConnectionError("UCS went away")

    async with Rows(failing()) as rows:
        assert await rows.peek() is not None
        rows.consume(1)
        with pytest.raises(ConnectionError, match="UCS went away"):
            await rows.peek()


async def test_a_plain_async_iterator_is_not_closed() -> None:
    class Batches:
        """An async iterator that is not a generator: it has no ``aclose``."""

        def __init__(self) -> None:
            self.left = [records(2)]

        def __aiter__(self) -> Batches:
            return self

        async def __anext__(self) -> list[KeyedRecord]:
            if not self.left:
                raise StopAsyncIteration
            return self.left.pop()

    async with Rows(Batches()) as rows:
        batch = await rows.peek()
        assert batch is not None and len(batch) == 2
        rows.consume(2)
        assert await rows.peek() is None
