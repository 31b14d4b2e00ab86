"""Concurrent clients, each looping over the three reads a History page makes — list runs, list
artifacts, get one run — until the deadline or the request budget runs out."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Sequence

from cdds_tools.load.report import Report, RouteStats
from cdds_tools.load.wire import Connection, WireError

__all__ = ["ROUTES", "drive"]

ROUTES = ("GET /api/v1/runs", "GET /api/v1/artifacts", "GET /api/v1/runs/{id}")


async def drive(
    base_url: str,
    token: str,
    run_ids: Sequence[str],
    *,
    clients: int,
    seconds: float,
    max_requests: int,
    timeout: float = 60.0,
) -> Report:
    """Run ``clients`` loops, each on its own keep-alive connection to ``base_url``, for
    ``seconds``, at most ``max_requests`` requests in all; a request still running at the
    deadline is awaited (``timeout`` bounds it)."""
    stats = {route: RouteStats(route) for route in ROUTES}
    headers = {"Authorization": f"Bearer {token}"}
    budget = [max_requests]
    started = time.monotonic()
    deadline = started + seconds
    pick = random.Random(len(run_ids))

    async def one(connection: Connection, route: str, url: str) -> None:
        begun = time.perf_counter()
        try:
            status: int | None = await connection.get(url)
        except WireError:
            status = None
        stats[route].add(status, time.perf_counter() - begun)

    async def loop() -> None:
        connection = Connection(base_url, headers, timeout)
        try:
            while True:
                for route in ROUTES:
                    if time.monotonic() >= deadline or budget[0] <= 0:
                        return
                    budget[0] -= 1
                    url = route.removeprefix("GET ")
                    if "{id}" in url:
                        url = url.replace("{id}", pick.choice(run_ids))
                    await one(connection, route, url)
        finally:
            await connection.close()

    before = os.getloadavg()
    await asyncio.gather(*(loop() for _ in range(clients)))
    return Report(
        routes=list(stats.values()),
        seconds=time.monotonic() - started,
        clients=clients,
        load_before=before,
        load_after=os.getloadavg(),
    )
