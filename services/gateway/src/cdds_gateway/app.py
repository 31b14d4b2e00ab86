"""The gateway: web UI, REST API (``/api/v1``), auth, certificates, jobs, runs, artifacts, audit.

Run: ``python -m cdds_gateway.serve`` (uvicorn with the edge's header limits and timeouts,
``serve.py``); ``/docs`` and ``/redoc`` exist only with ``CDDS_ENVIRONMENT=development``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from cdds_gateway import announcer, edge, intake, openapi, scheduler, tracing
from cdds_gateway import metrics as prometheus
from cdds_gateway.api import ROUTERS as API_ROUTERS
from cdds_gateway.deps import GatewayDeps
from cdds_gateway.errors import install_error_handlers
from cdds_gateway.web import ROUTERS as WEB_ROUTERS
from cdds_gateway.web import install as install_pages
from cdds_gateway.web.render import STATIC
from cdds_shared.logging import configure_logging, get_logger
from cdds_shared.messaging import declare_topology, make_broker, topology_of
from cdds_shared.metrics import broker_metrics
from cdds_shared.runs.model import utcnow
from cdds_shared.runtime import (
    dependency_checks,
    run_checks,
    settings_or_exit,
    wait_for_dependencies,
)
from cdds_shared.settings import Settings
from cdds_shared.telemetry import TracerProvider
from cdds_shared.telemetry import tracing as service_tracing

__all__ = ["create_app"]

DEPENDENCIES = ("rabbitmq", "mongodb", "minio")


SESSION_PURGE_SECONDS = 3600.0


async def purge_sessions(deps: GatewayDeps, log: Any) -> None:
    """Expired sessions and sign-in counters are deleted hourly (FerretDB has no TTL indexes)."""
    while True:
        try:
            purged = await deps.identity.purge_expired_sessions()
            counters = await deps.identity.throttle.purge(utcnow())
            if purged or counters:
                log.info("expired sessions purged", sessions=purged, throttle_counters=counters)
        except Exception as exc:  # a dependency outage must not end the loop
            log.warning("session purge failed", error=str(exc))
        await asyncio.sleep(SESSION_PURGE_SECONDS)


def create_app(
    settings: Settings | None = None,
    *,
    access_log: bool = True,
    tracer_provider: TracerProvider | None = None,
) -> FastAPI:
    """``access_log``: a line per request (``serve --no-access-log``); ``tracer_provider``: a
    test's own, else ``CDDS_OTEL__ENDPOINT`` decides (``cdds_shared.telemetry``)."""
    settings = settings_or_exit("gateway", settings)
    configure_logging(settings.log_level)
    log = get_logger("cdds.gateway")
    checks = dependency_checks(settings, DEPENDENCIES)
    wait_for_dependencies("gateway", checks, settings.startup_timeout_seconds)
    metrics = prometheus.GatewayMetrics()
    broker = make_broker(
        settings.rabbit, middlewares=(broker_metrics(metrics.registry, "gateway"),)
    )
    traces = service_tracing(settings, "gateway", tracer_provider)
    tracing.instrument(broker, traces)
    deps = GatewayDeps.build(broker, settings, metrics)
    intake.install(broker, deps, topology_of(settings))
    announcer.install(broker, deps, topology_of(settings))
    background: list[Callable[[], Coroutine[Any, Any, None]]] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await deps.start()
        await broker.start()
        await declare_topology(broker, topology_of(settings))
        tasks = [asyncio.create_task(loop()) for loop in background]
        log.info("gateway started", url=settings.gateway.url)
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await broker.stop()
            await deps.stop()
            traces.close()

    development = settings.environment == "development"
    app = FastAPI(
        title="CDDS gateway",
        version="0.1.0",
        lifespan=lifespan,
        openapi_url="/api/openapi.json",
        generate_unique_id_function=openapi.operation_id,
        # The interactive viewers run inline scripts from a CDN: development only.
        docs_url="/docs" if development else None,
        redoc_url="/redoc" if development else None,
    )
    app.state.settings = settings
    app.state.broker = broker
    app.state.deps = deps
    app.state.background = background  # long-running loops (e.g. the job scheduler) add here
    scheduler.install(app)
    background.append(partial(purge_sessions, deps, log))
    install_error_handlers(app)
    openapi.install(app)
    edge.install(app, settings, access_log=access_log)
    tracing.install(app, traces)  # after the edge: its server span is outermost
    install_pages(app)
    for router in (*API_ROUTERS, *WEB_ROUTERS):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    prometheus.install(app, metrics)  # last: its request counter is the outermost middleware

    # docs/operations.md, "Probes": liveness touches no dependency (an outage must not restart
    # the pods); readiness is what the gateway needs to serve now, its own broker connection too.
    @app.get("/healthz", tags=["operations"], summary="Liveness: the process serves requests")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], summary="Readiness: every dependency answers")
    async def readyz() -> JSONResponse:
        results = await run_checks(checks, timeout=5.0)
        if not await broker.ping(timeout=2.0):
            results["broker"] = "CDDS_RABBIT__URL: publisher connection down"
        ready = all(r == "ok" for r in results.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": results},
            status_code=200 if ready else 503,
        )

    return app
