"""The exporter: plans runs and streams UCS records into transit-encrypted staged parts.

Its composition root: the runtime, deps and subscribers are built here once; nothing connects
until the app starts.

Run: ``faststream run --factory cdds_exporter.app:create_app --host 127.0.0.1 --port 8081``.
"""

from __future__ import annotations

from cdds_exporter.deps import ExporterDeps
from cdds_exporter.subscribers import subscribers
from cdds_exporter.watchdog import Watchdog
from cdds_shared.metrics import ExporterMetrics
from cdds_shared.runtime import settings_or_exit
from cdds_shared.settings import Settings
from cdds_shared.telemetry import TracerProvider
from cdds_shared.worker import WorkerApp, WorkerHooks, WorkerRuntime

__all__ = ["create_app"]

DEPENDENCIES = ("ucs", "minio", "mongodb")


def create_app(
    settings: Settings | None = None, *, tracer_provider: TracerProvider | None = None
) -> WorkerApp:
    """``tracer_provider``: a test's own; else ``CDDS_OTEL__ENDPOINT`` decides (telemetry.py)."""
    settings = settings_or_exit("exporter", settings)
    runtime = WorkerRuntime.build("exporter", DEPENDENCIES, settings, tracer_provider)
    deps = ExporterDeps.build(
        runtime.broker,
        ucs=settings.ucs,
        mongo=settings.mongo,
        minio=settings.minio,
        transit=settings.transit,
        export=settings.export,
        metrics=ExporterMetrics(runtime.registry),
    )
    watchdog = Watchdog(deps)
    hooks = WorkerHooks(
        on_startup=[deps.start],
        after_startup=[watchdog.start],
        on_shutdown=[watchdog.stop, deps.stop],
        on_give_up=deps.give_up,
    )
    return runtime.app(subscribers(runtime, deps), hooks)
