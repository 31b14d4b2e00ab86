"""The encryptor: seals staged parts for their owner's certificate and stores the artifacts.

Its composition root: the runtime, deps and subscribers are built here once; nothing connects
until the app starts.

Run: ``faststream run --factory cdds_encryptor.app:create_app --host 127.0.0.1 --port 8082``.
"""

from __future__ import annotations

from cdds_encryptor.deps import EncryptorDeps
from cdds_encryptor.subscribers import subscribers
from cdds_shared.metrics import EncryptorMetrics
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
    settings = settings_or_exit("encryptor", settings)
    runtime = WorkerRuntime.build("encryptor", DEPENDENCIES, settings, tracer_provider)
    deps = EncryptorDeps.build(
        runtime.broker,
        runtime.topology,
        mongo=settings.mongo,
        minio=settings.minio,
        transit=settings.transit,
        retention=settings.retention,
        metrics=EncryptorMetrics(runtime.registry),
    )
    hooks = WorkerHooks(
        on_startup=[deps.start],
        after_startup=[deps.timer.declare],
        on_shutdown=[deps.stop],
        on_give_up=deps.give_up,
    )
    return runtime.app(subscribers(runtime, deps), hooks)
