"""The janitor's periodic work: the lifecycle backstop (until set) and the sweep, every
``CDDS_JANITOR__SWEEP_INTERVAL_SECONDS``, starting at start-up.

Every replica sweeps; the conditional deletion makes that safe. An outage (MinIO, MongoDB)
fails a pass, logged and counted, and the next pass carries on.
"""

from __future__ import annotations

import asyncio
import contextlib

from cdds_janitor.deps import JanitorDeps
from cdds_janitor.metrics import JanitorMetrics
from cdds_shared.logging import get_logger
from cdds_shared.retention import SweepReport, ensure_backstop, lifecycle_days, sweep

__all__ = ["Sweeper"]

log = get_logger("cdds.janitor.sweep")


class Sweeper:
    def __init__(self, deps: JanitorDeps, metrics: JanitorMetrics, interval: float) -> None:
        self._deps = deps
        self._metrics = metrics
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.ensure_backstop()
        self._task = asyncio.create_task(self._loop(), name="retention-sweep")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def ensure_backstop(self) -> bool:
        """Set the bucket lifecycle rules; on failure log it, and the next pass tries again."""
        d = self._deps
        try:
            await ensure_backstop(d.retention.objects, d.retention_seconds, d.staging_prefix)
        except Exception as exc:
            log.error("lifecycle backstop not set; will retry", error=str(exc))
            return False
        if not self._metrics.backstop_ok:
            days = lifecycle_days(d.retention_seconds)
            log.info("lifecycle backstop set", artifacts_days=days, staging_prefix=d.staging_prefix)
        self._metrics.backstop_ok = True
        return True

    async def run_once(self) -> SweepReport:
        if not self._metrics.backstop_ok:
            await self.ensure_backstop()
        report = await sweep(self._deps.retention, on_expiry=self._metrics.record)
        self._metrics.sweep_succeeded(report)
        return report

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception as exc:  # an outage must not kill the loop
                self._metrics.sweep_failed()
                log.warning("sweep failed; the next pass retries", error=str(exc))
            await asyncio.sleep(self._interval)
