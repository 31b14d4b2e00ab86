"""Queue depths and dead letters, read from RabbitMQ's management API at each scrape.

``CDDS_RABBIT__MANAGEMENT_URL`` is asked for the ``cdds.*`` queues of the virtual host of
``CDDS_RABBIT__URL``, as the user of that URL (it needs the ``management`` tag: docs/operations.md,
"Broker users"), within ``TIMEOUT`` seconds. When the API does not answer,
``cdds_rabbitmq_management_up`` is 0 and no queue series is reported (none is better than a
stale one); ``/metrics`` answers all the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

import httpx
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from cdds_shared.logging import get_logger
from cdds_shared.settings import RabbitSettings

__all__ = ["TIMEOUT", "QueueDepth", "QueueMetrics"]

TIMEOUT = 3.0
COLUMNS = "name,messages,messages_ready"
log = get_logger("cdds.metrics.queues")


@dataclass(frozen=True)
class QueueDepth:
    name: str
    messages: int
    ready: int

    @property
    def dead(self) -> bool:
        return self.name.endswith(".dead")


class QueueMetrics(Collector):
    """A collector of the last answer; ``refresh`` (run before each scrape) asks again."""

    def __init__(
        self,
        settings: RabbitSettings,
        registry: CollectorRegistry | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        url = urlsplit(settings.url.get_secret_value())
        self._auth = (unquote(url.username or "guest"), unquote(url.password or "guest"))
        vhost = unquote(url.path[1:]) if len(url.path) > 1 else "/"
        self._base = settings.management_url.rstrip("/")
        self._path = f"/api/queues/{quote(vhost, safe='')}"
        self._transport = transport
        self.queues: list[QueueDepth] | None = None
        self._failing = False
        if registry is not None:
            registry.register(self)

    async def refresh(self) -> None:
        try:
            async with httpx.AsyncClient(
                base_url=self._base, auth=self._auth, timeout=TIMEOUT, transport=self._transport
            ) as api:
                response = await api.get(self._path, params={"columns": COLUMNS})
                response.raise_for_status()
                queues = _depths(response.json())
        except (httpx.HTTPError, ValueError, TypeError) as exc:
            if not self._failing:  # log the change, not every scrape
                log.warning(
                    "queue metrics unavailable: the management API does not answer",
                    setting="CDDS_RABBIT__MANAGEMENT_URL",
                    error=str(exc),
                )
            self._failing, self.queues = True, None
            return
        self._failing, self.queues = False, queues

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "cdds_rabbitmq_management_up",
            "1 when RabbitMQ's management API answered the last scrape's question, else 0.",
        )
        up.add_metric([], 0 if self.queues is None else 1)
        yield up
        messages = GaugeMetricFamily(
            "cdds_rabbitmq_queue_messages",
            "Messages in each cdds.* queue (ready + unacknowledged).",
            labels=["queue"],
        )
        ready = GaugeMetricFamily(
            "cdds_rabbitmq_queue_messages_ready",
            "Messages ready for delivery in each cdds.* queue.",
            labels=["queue"],
        )
        dead = GaugeMetricFamily(
            "cdds_rabbitmq_dead_letters",
            "Messages in each dead-letter queue (<queue>.dead): each needs an operator.",
            labels=["queue"],
        )
        for q in self.queues or ():
            messages.add_metric([q.name], q.messages)
            ready.add_metric([q.name], q.ready)
            if q.dead:
                dead.add_metric([q.name], q.messages)
        yield from (messages, ready, dead)


def _depths(found: object) -> list[QueueDepth]:
    """The ``cdds.*`` queues of an answer of ``GET /api/queues/<vhost>``."""
    if not isinstance(found, list):
        raise TypeError(f"not a list of queues: {type(found).__name__}")
    return [
        QueueDepth(q["name"], int(q.get("messages") or 0), int(q.get("messages_ready") or 0))
        for q in found
        if isinstance(q, dict) and str(q.get("name", "")).startswith("cdds.")
    ]
