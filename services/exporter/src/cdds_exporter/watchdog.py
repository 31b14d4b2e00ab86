"""Fails runs that stopped making progress (a run never hangs silently: docs/pipeline.md §11),
and keeps the fair-share dispatch going when a wake-up was lost (``dispatch.py``).

Every exporter replica runs both loops; the conditional status change lets exactly one of them
fail a given run and publish ``RunFailed``, and the per-tenant dispatch lock lets one dispatch a
tenant at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from cdds_exporter.deps import ExporterDeps
from cdds_exporter.dispatch import dispatch_all, republish_lost, waiting_for_turn
from cdds_exporter.planning import start_run
from cdds_shared.logging import get_logger
from cdds_shared.runs.lifecycle import announce_overdue, fail_stalled
from cdds_shared.runs.model import utcnow

__all__ = ["Watchdog"]

log = get_logger("cdds.exporter.watchdog")


class Watchdog:
    def __init__(self, deps: ExporterDeps) -> None:
        self._deps = deps
        self._timeout = deps.export.stall_timeout_seconds
        self._interval = deps.export.watchdog_interval_seconds
        self._dispatch_interval = deps.export.dispatch_interval_seconds
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._loop(self.check, self._interval), name="stall-watchdog"),
            asyncio.create_task(
                self._loop(self.dispatch, self._dispatch_interval), name="dispatch-backstop"
            ),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def check(self) -> list[str]:
        """Fail stalled runs; announce finished runs whose announcer died; count the runs in
        progress for ``/metrics``. Returns failed ids."""
        d = self._deps
        await announce_overdue(d.runs, d.publish)
        waiting = waiting_for_turn(await d.dispatch.active_runs())
        failed = await fail_stalled(
            d.runs, d.publish, d.objects, d.staging_prefix, self._timeout, waiting_turn=waiting
        )
        d.metrics.in_progress((run.requested_at for run in await d.runs.active()), utcnow())
        return failed

    async def dispatch(self) -> None:
        """Republish lost dispatches, then a dispatch pass for every tenant with active runs
        (a run that ended without waking its tenant's dispatch frees its slot here)."""
        await republish_lost(self._deps)
        await dispatch_all(self._deps, start_run)

    @staticmethod
    async def _loop(step: Callable[[], Awaitable[object]], interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await step()
            except Exception as exc:  # a dependency outage must not kill the loop
                log.warning("periodic check failed", step=step.__name__, error=str(exc))
