"""A cross-process lock per document for servers whose ``findAndModify`` is not atomic.

FerretDB 1.24 runs ``findAndModify`` as a query followed by an unconditional write by ``_id``;
``MongoDocumentStore`` serialises ``find_one_and_update`` with these locks there.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import structlog
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from cdds_shared.errors import TransientError
from cdds_shared.ports.documents import Document

__all__ = ["DocumentLocks"]

_log = structlog.get_logger(__name__)


class DocumentLocks:
    """A cross-process lock per key, built on the one atomic step FerretDB has: insert by ``_id``.

    A lock older than ``lease`` belongs to a crashed (or stalled) holder and is taken over. Only
    whoever inserts the tombstone ``end:<token>`` may remove a stale lock, so a rescuer and a
    late holder never both remove it. Assumes no process stalls longer than ``lease``.
    """

    def __init__(self, locks: AsyncCollection[Document], lease: float, wait: float) -> None:
        self._c, self._lease, self._wait = locks, lease, wait

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        token = uuid.uuid4().hex
        await self._acquire(key, token)
        started = time.monotonic()
        try:
            yield
        finally:
            if time.monotonic() - started < self._lease / 2:
                await self._c.delete_one({"_id": key})  # too young to be taken over
            elif not await self._end(key, token):
                _log.warning("mongo_lock_taken_over", key=key)

    async def _acquire(self, key: str, token: str) -> None:
        deadline, delay = time.monotonic() + self._wait, 0.002
        while True:
            try:
                await self._c.insert_one({"_id": key, "token": token, "at": datetime.now(UTC)})
                return
            except DuplicateKeyError:
                pass
            held = await self._c.find_one({"_id": key})
            if held and (datetime.now(UTC) - held["at"]).total_seconds() > self._lease:
                await self._end(key, held["token"])
                continue
            if time.monotonic() > deadline:
                raise TransientError(f"document {key!r} stayed locked for {self._wait:.0f}s")
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 0.1)

    async def _end(self, key: str, token: str) -> bool:
        try:
            await self._c.insert_one({"_id": f"end:{token}", "at": datetime.now(UTC)})
        except DuplicateKeyError:
            return False
        await self._c.delete_one({"_id": key})
        return True
