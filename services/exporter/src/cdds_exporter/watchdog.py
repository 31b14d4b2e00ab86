"""Fails runs that stopped making progress (DESIGN §3: a run never hangs silently).

Every exporter replica runs it; the conditional status change lets exactly one of them fail a
given run and publish ``RunFailed``.
"""

from __future__ import annotations

import asyncio
import contextlib

from cdds_exporter.deps import ExporterDeps
from cdds_shared.logging import get_logger
from cdds_shared.runs.lifecycle import announce_overdue, fail_stalled
from cdds_shared.settings import Settings

__all__ = ["Watchdog"]

log = get_logger("cdds.exporter.watchdog")


class Watchdog:
    def __init__(self, deps: ExporterDeps, settings: Settings) -> None:
        self._deps = deps
        self._timeout = settings.export.stall_timeout_seconds
        self._interval = settings.export.watchdog_interval_seconds
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="stall-watchdog")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def check(self) -> list[str]:
        """Fail stalled runs; announce finished runs whose announcer died. Returns failed ids."""
        d = self._deps
        await announce_overdue(d.runs, d.publish)
        return await fail_stalled(d.runs, d.publish, d.objects, d.staging_prefix, self._timeout)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.check()
            except Exception as exc:  # a dependency outage must not kill the loop
                log.warning("stall check failed", error=str(exc))
