"""Identical reads at the same time share one answer (docs/operations.md § Lists and make load).

Fifty clients of one tenant polling History ask the same three reads over and over; on FerretDB
1.24 every listing decodes whole collections, so the database's work, not the gateway's, sets
the latency. A read asked while the same read (same caller scope, same arguments) is already
being answered waits for that answer instead of asking the database again. The use cases make
the key (``cdds_gateway.usecases.scope.read_key``).

Freshness: a read joins only a flight that began after this process's last write
(``MongoDocumentStore.writes``), so a caller who changed something through this gateway (created
a job, deleted a run) and then lists always sees the change. A worker's write (a run's status, a
sealed file) may be missed by at most one read's duration — indistinguishable from the worker
having written that much later. With several gateway replicas, a write made through another
replica has the same bound.

The flight runs as its own task: a caller that disconnects does not cancel it for the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

__all__ = ["Coalescer"]

T = TypeVar("T")


class Coalescer:
    """Runs ``compute`` once for every caller asking ``key`` while it is in flight.

    ``generation``: a counter that grows with every write (the document store's ``writes``); a
    flight is only joined by callers that saw the same count.
    """

    def __init__(self, generation: Callable[[], int]) -> None:
        self._generation = generation
        self._flights: dict[Hashable, asyncio.Future[Any]] = {}

    @property
    def in_flight(self) -> int:
        return len(self._flights)

    async def __call__(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        keyed = (key, self._generation())
        flight = self._flights.get(keyed)
        if flight is None:
            flight = asyncio.ensure_future(compute())
            self._flights[keyed] = flight
            flight.add_done_callback(lambda done: self._landed(keyed, done))
        result: T = await asyncio.shield(flight)
        return result

    def _landed(self, keyed: Hashable, flight: asyncio.Future[Any]) -> None:
        if self._flights.get(keyed) is flight:
            del self._flights[keyed]
        if not flight.cancelled():
            flight.exception()  # retrieved: no "never retrieved" warning when every caller left
