"""The gateway: web UI, REST API, auth, certificates (issue #4); today health and readiness.

Run: ``uvicorn --factory cdds_gateway.app:create_app --host 127.0.0.1 --port 8080``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from cdds_shared.logging import configure_logging, get_logger
from cdds_shared.messaging import Topology, declare_topology, make_broker
from cdds_shared.runtime import (
    dependency_checks,
    run_checks,
    settings_or_exit,
    wait_for_dependencies,
)
from cdds_shared.settings import Settings

__all__ = ["create_app"]

DEPENDENCIES = ("rabbitmq", "mongodb", "minio")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings_or_exit("gateway", settings)
    configure_logging(settings.log_level)
    log = get_logger("cdds.gateway")
    checks = dependency_checks(settings, DEPENDENCIES)
    wait_for_dependencies("gateway", checks, settings.startup_timeout_seconds)
    broker = make_broker(settings.rabbit)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await broker.start()
        await declare_topology(broker, Topology(delivery_limit=settings.rabbit.delivery_limit))
        log.info("gateway started", url=settings.gateway.url)
        try:
            yield
        finally:
            await broker.stop()

    app = FastAPI(
        title="CDDS gateway",
        version="0.1.0",
        lifespan=lifespan,
        openapi_url="/api/openapi.json",
    )
    app.state.settings = settings
    app.state.broker = broker

    @app.get("/healthz", tags=["operations"], summary="Liveness: the process serves requests")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], summary="Readiness: every dependency answers")
    async def readyz() -> JSONResponse:
        results = await run_checks(checks, timeout=5.0)
        ready = all(r == "ok" for r in results.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": results},
            status_code=200 if ready else 503,
        )

    return app
