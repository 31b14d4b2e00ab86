"""The janitor: deletes artifacts when their retention ends (docs/retention.md).

Retention timers (``ArtifactDue``) arrive from the hold queue; a periodic sweep catches whatever
a lost timer missed; a bucket lifecycle rule is the last backstop. ``GET /metrics`` exports the
deletion lag, and the depth of every ``cdds.*`` queue with its dead letters (read from the
management API at each scrape). See ``docs/retention.md`` and docs/operations.md § Metrics.

Its composition root: the runtime, deps and subscribers are built here once; nothing connects
until the app starts.

Run: ``faststream run --factory cdds_janitor.app:create_app --host 127.0.0.1 --port 8083``.
"""

from __future__ import annotations

from cdds_janitor.deps import JanitorDeps
from cdds_janitor.metrics import JanitorMetrics
from cdds_janitor.subscribers import subscribers
from cdds_janitor.sweeper import Sweeper
from cdds_shared.metrics import QueueMetrics
from cdds_shared.runtime import settings_or_exit
from cdds_shared.settings import Settings
from cdds_shared.telemetry import TracerProvider
from cdds_shared.worker import WorkerApp, WorkerHooks, WorkerRuntime

__all__ = ["create_app"]

DEPENDENCIES = ("mongodb", "minio")


def create_app(
    settings: Settings | None = None, *, tracer_provider: TracerProvider | None = None
) -> WorkerApp:
    """``tracer_provider``: a test's own; else ``CDDS_OTEL__ENDPOINT`` decides (telemetry.py)."""
    settings = settings_or_exit("janitor", settings)
    runtime = WorkerRuntime.build("janitor", DEPENDENCIES, settings, tracer_provider)
    deps = JanitorDeps.build(
        runtime.broker,
        runtime.topology,
        mongo=settings.mongo,
        minio=settings.minio,
        retention=settings.retention,
    )
    metrics = JanitorMetrics(runtime.registry)
    queues = QueueMetrics(settings.rabbit, runtime.registry)
    sweeper = Sweeper(deps, metrics, settings.janitor.sweep_interval_seconds)
    hooks = WorkerHooks(
        on_startup=[deps.start],
        after_startup=[deps.timer.declare, sweeper.start],
        on_shutdown=[sweeper.stop, deps.stop],
        on_scrape=[queues.refresh],
    )
    return runtime.app(subscribers(runtime, deps, metrics), hooks)
