"""The exporter: streams UCS records into transit-encrypted parts.

Its RunRequested handler lands with issue #3.

Run: ``faststream run --factory cdds_exporter.app:create_app --host 127.0.0.1 --port 8081``.
"""

from __future__ import annotations

from faststream.asgi import AsgiFastStream

from cdds_shared.settings import Settings
from cdds_shared.worker import create_worker_app

__all__ = ["create_app"]

DEPENDENCIES = ("ucs", "minio")


def create_app(settings: Settings | None = None) -> AsgiFastStream:
    return create_worker_app("exporter", DEPENDENCIES, settings=settings)
