"""Prometheus metrics of the four services (docs/operations.md § Metrics).

Each service builds one ``CollectorRegistry`` in its ``create_app`` (never the global one:
nothing registers at import, and tests build several apps in one process) and serves it at
``GET /metrics``. ``registry.py`` has the registry, the exposition and the broker middleware;
``domain.py`` the counters of runs, exports, sealing and downloads; ``queues.py`` the queue
depths and dead letters read from RabbitMQ's management API.
"""

from cdds_shared.metrics.domain import (
    DownloadMetrics,
    EncryptorMetrics,
    ExporterMetrics,
    RunMetrics,
)
from cdds_shared.metrics.queues import QueueMetrics
from cdds_shared.metrics.registry import (
    CONTENT_TYPE,
    broker_metrics,
    metrics_route,
    new_registry,
    render,
)

__all__ = [
    "CONTENT_TYPE",
    "DownloadMetrics",
    "EncryptorMetrics",
    "ExporterMetrics",
    "QueueMetrics",
    "RunMetrics",
    "broker_metrics",
    "metrics_route",
    "new_registry",
    "render",
]
