"""A service's registry, its exposition at ``GET /metrics`` and FastStream's broker metrics.

The broker middleware (FastStream's ``RabbitPrometheusMiddleware``) counts every message a
subscriber receives and how it ended (``acked``, ``nacked``, ``rejected``, ``error``) by handler
(``<exchange>.<routing key>``), times the handler, and counts what the service publishes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from faststream.asgi import AsgiResponse, get
from faststream.asgi.types import ASGIApp
from faststream.rabbit.prometheus import RabbitPrometheusMiddleware
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from cdds_shared.logging import get_logger

__all__ = ["CONTENT_TYPE", "Refresh", "broker_metrics", "metrics_route", "new_registry", "render"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
Refresh = Callable[[], Awaitable[None]]
"""Run before each scrape (e.g. reading queue depths); it bounds its own time and never raises."""

log = get_logger("cdds.metrics")


def new_registry() -> CollectorRegistry:
    """A registry of this app alone (not ``prometheus_client.REGISTRY``)."""
    return CollectorRegistry(auto_describe=True)


def broker_metrics(registry: CollectorRegistry, service: str) -> RabbitPrometheusMiddleware:
    """FastStream's message metrics (``faststream_*``, label ``app_name`` = ``service``)."""
    return RabbitPrometheusMiddleware(registry=registry, app_name=f"cdds-{service}")


async def render(registry: CollectorRegistry, refresh: Sequence[Refresh] = ()) -> bytes:
    """The Prometheus text of ``registry``, after each ``refresh``. A refresh that fails is
    logged and skipped: ``/metrics`` always answers."""
    for step in refresh:
        try:
            await step()
        except Exception as exc:  # a scrape must never fail on one source
            log.warning("metrics refresh failed", error=str(exc))
    return generate_latest(registry)  # walks Python objects only, no I/O


def metrics_route(
    registry: CollectorRegistry, refresh: Sequence[Refresh] = ()
) -> tuple[str, ASGIApp]:
    """``("/metrics", app)`` for a worker's FastStream ASGI routes (``worker.py``)."""

    @get(include_in_schema=False)
    async def metrics(scope: object) -> AsgiResponse:
        body = await render(registry, refresh)
        return AsgiResponse(body, 200, headers={"content-type": CONTENT_TYPE})

    return "/metrics", metrics
