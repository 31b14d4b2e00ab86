"""The gateway's metrics: one registry per app, served at ``GET /metrics`` (no auth, not in
the OpenAPI document), with FastStream's message metrics of its broker, the runs it started and
saw end, its downloads, and every HTTP request by route template (never the raw path: no ids in
labels) and status, with its latency (docs/operations.md § Metrics)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from fastapi import FastAPI, Response
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cdds_shared.metrics import CONTENT_TYPE, DownloadMetrics, RunMetrics, new_registry, render

__all__ = ["HTTP_BUCKETS", "GatewayMetrics", "HttpMetrics", "install"]

HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0)
"""Seconds until a response's last byte: pages and lists in milliseconds, downloads longer."""
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "cdds_http_requests", "HTTP requests by method, route template and status.",
            ["method", "route", "status"], registry=registry,
        )  # fmt: skip
        self.latency = Histogram(
            "cdds_http_request_duration_seconds", "Seconds from a request to its response's "
            "last byte, by method and route template.", ["method", "route"],
            buckets=HTTP_BUCKETS, registry=registry,
        )  # fmt: skip

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        method = method if method in METHODS else "other"
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)


@dataclass
class GatewayMetrics:
    registry: CollectorRegistry = field(default_factory=new_registry)
    runs: RunMetrics = field(init=False)
    downloads: DownloadMetrics = field(init=False)
    http: HttpMetrics = field(init=False)

    def __post_init__(self) -> None:
        self.runs = RunMetrics(self.registry)
        self.downloads = DownloadMetrics(self.registry)
        self.http = HttpMetrics(self.registry)


def route_of(scope: Scope) -> str:
    """The template of the route that matched (``/api/v1/runs/{run_id}``), else ``unmatched``."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class CountRequests:
    """Pure ASGI middleware (outermost): status and time until the response ended, also of a
    streamed download and of the edge's own refusals."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # an exception before any response

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.metrics.observe(
                scope["method"], route_of(scope), status, time.perf_counter() - start
            )


def install(app: FastAPI, metrics: GatewayMetrics) -> None:
    """``GET /metrics`` and the request counter (call it last: the middleware is outermost)."""

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(await render(metrics.registry), media_type=CONTENT_TYPE)

    app.add_middleware(CountRequests, metrics=metrics.http)
