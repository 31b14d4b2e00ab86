"""The gateway's traces (docs/operations.md, "Traces"): a server span per HTTP request
(OpenTelemetry's FastAPI instrumentation; not the probes nor ``/metrics``), and FastStream's
telemetry middleware on its broker, so the ``RunRequested`` a request publishes carries the
request's trace. Nothing is installed when tracing is off (``cdds_shared.telemetry``)."""

from __future__ import annotations

from fastapi import FastAPI
from faststream.rabbit import RabbitBroker
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from cdds_shared.telemetry import Tracing, instrument_broker

__all__ = ["EXCLUDED_URLS", "install", "instrument"]

EXCLUDED_URLS = "/healthz,/readyz,/metrics"
"""Not traced: probed every few seconds, and part of no request a user makes."""


def instrument(broker: RabbitBroker, tracing: Tracing) -> None:
    """The broker first, before any subscriber is added to it."""
    instrument_broker(broker, tracing)


def install(app: FastAPI, tracing: Tracing) -> None:
    if tracing.provider is None:
        return
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=tracing.provider,
        excluded_urls=EXCLUDED_URLS,
        # No span per body chunk: a download streams thousands of them.
        exclude_spans=["receive", "send"],
    )
