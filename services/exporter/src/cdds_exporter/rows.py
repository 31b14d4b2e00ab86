"""Batches of UCS records with one batch fetched ahead, so PostgreSQL streams the next batch
while a worker thread compresses the current one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from types import TracebackType

from cdds_shared.ports.ucs import KeyedRecord

__all__ = ["Rows"]


class Rows:
    """``peek()`` the records not yet consumed (``None`` at the end), ``consume(n)`` them."""

    def __init__(self, batches: AsyncIterator[list[KeyedRecord]]) -> None:
        self._batches = batches
        self._current: list[KeyedRecord] = []
        self._next: asyncio.Task[list[KeyedRecord] | None] | None = None
        self._done = False

    async def _fetch(self) -> list[KeyedRecord] | None:
        try:
            return await anext(self._batches)
        except StopAsyncIteration:
            return None

    async def peek(self) -> list[KeyedRecord] | None:
        while not self._current:
            if self._done:
                return None
            task = self._next or asyncio.ensure_future(self._fetch())
            self._next = None
            batch = await task
            if batch is None:
                self._done = True
                return None
            self._current = batch
            self._next = asyncio.ensure_future(self._fetch())
        return self._current

    def consume(self, n: int) -> None:
        self._current = self._current[n:]

    async def __aenter__(self) -> Rows:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._next is not None:
            self._next.cancel()
            with contextlib.suppress(BaseException):
                await self._next
        if isinstance(self._batches, AsyncGenerator):
            await self._batches.aclose()
