"""A service's registry, its exposition at ``GET /metrics`` and FastStream's broker metrics.

The broker middleware (FastStream's Prometheus middleware for RabbitMQ) counts every message a
subscriber receives and how it ended (``acked``, ``nacked``, ``rejected``, ``error``) by handler
(``<exchange>.<routing key>``), times the handler, and counts what the service publishes. On the
public exchanges the routing key's tenant is written ``*`` (``cdds.integration.events.*.run.
completed``): a label per tenant would grow without bound.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from faststream.asgi import AsgiResponse, get
from faststream.asgi.types import ASGIApp
from faststream.prometheus import ConsumeAttrs, PrometheusMiddleware
from faststream.rabbit.prometheus.provider import RabbitMetricsSettingsProvider
from faststream.rabbit.response import RabbitPublishCommand
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from cdds_shared.logging import get_logger
from cdds_shared.messaging.public import EVENTS_EXCHANGE, REQUESTS_EXCHANGE

__all__ = ["CONTENT_TYPE", "Refresh", "broker_metrics", "metrics_route", "new_registry", "render"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
Refresh = Callable[[], Awaitable[None]]
"""Run before each scrape (e.g. reading queue depths); it bounds its own time and never raises."""

log = get_logger("cdds.metrics")


def new_registry() -> CollectorRegistry:
    """A registry of this app alone (not ``prometheus_client.REGISTRY``)."""
    return CollectorRegistry(auto_describe=True)


PER_TENANT = (f"{REQUESTS_EXCHANGE}.", f"{EVENTS_EXCHANGE}.")


def _without_tenant(destination: str) -> str:
    """``cdds.integration.events.acme.run.completed`` → ``….events.*.run.completed``."""
    for prefix in PER_TENANT:
        if destination.startswith(prefix):
            _, _, event = destination[len(prefix) :].partition(".")
            return f"{prefix}*.{event}"
    return destination


class _Destinations(RabbitMetricsSettingsProvider):
    def get_consume_attrs_from_message(self, msg: Any) -> ConsumeAttrs:
        attrs = super().get_consume_attrs_from_message(msg)
        attrs["destination_name"] = _without_tenant(attrs["destination_name"])
        return attrs

    def get_publish_destination_name_from_cmd(self, cmd: RabbitPublishCommand) -> str:
        return _without_tenant(super().get_publish_destination_name_from_cmd(cmd))


def broker_metrics(registry: CollectorRegistry, service: str) -> PrometheusMiddleware[Any, Any]:
    """FastStream's message metrics (``faststream_*``, label ``app_name`` = ``cdds-<service>``)."""
    return PrometheusMiddleware(
        settings_provider_factory=lambda _: _Destinations(),
        registry=registry,
        app_name=f"cdds-{service}",
    )


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
