"""Traces over OTLP, off unless ``CDDS_OTEL__ENDPOINT`` is set (docs/operations.md, "Traces").

Each service's ``create_app`` calls :func:`tracing`: with an endpoint it builds a
``TracerProvider`` (resource ``service.name`` = ``cdds-<service>`` or
``CDDS_OTEL__SERVICE_NAME``) exporting in batches over OTLP/HTTP; without one it installs
nothing at all (no provider, no middleware: no overhead). A test hands its own provider in
instead (an in-memory exporter); a provider handed in is the caller's to shut down.

:func:`instrument_broker` adds FastStream's telemetry middleware: a consumer span per message,
continuing the trace its headers carry, and a producer span per publish, whose context the
published message's headers carry (W3C ``traceparent``). Publishing about a run from outside
that run's handling (the exporter's dispatch of a run's partitions, which any other run's
message may trigger) re-enters the run's own trace with :func:`within`, from the context the
gateway stored on the run when the request created it (:func:`trace_headers`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from faststream.rabbit import RabbitBroker
from faststream.rabbit.opentelemetry import RabbitTelemetryMiddleware
from opentelemetry import context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from cdds_shared.settings import Settings

__all__ = ["TracerProvider", "Tracing", "instrument_broker", "trace_headers", "tracing", "within"]

_PROPAGATOR = TraceContextTextMapPropagator()


@dataclass(frozen=True)
class Tracing:
    """A service's tracing: ``provider`` None means off. ``owned``: built here from the
    settings, so :meth:`close` flushes and shuts it down."""

    provider: TracerProvider | None = None
    owned: bool = False

    def close(self) -> None:
        if self.owned and isinstance(self.provider, SdkTracerProvider):
            self.provider.shutdown()  # exports the spans still batched


def tracing(settings: Settings, service: str, provider: TracerProvider | None = None) -> Tracing:
    """The tracing of ``service``: ``provider`` if given, else one exporting to
    ``CDDS_OTEL__ENDPOINT``, else none."""
    if provider is not None:
        return Tracing(provider)
    endpoint = settings.otel.endpoint
    if endpoint is None:
        return Tracing()
    name = settings.otel.service_name or f"cdds-{service}"
    built = SdkTracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    built.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return Tracing(built, owned=True)


def instrument_broker(broker: RabbitBroker, tracing: Tracing) -> None:
    """FastStream's telemetry middleware on ``broker`` (its consumes and publishes), if on."""
    if tracing.provider is not None:
        broker.add_middleware(RabbitTelemetryMiddleware(tracer_provider=tracing.provider))


def trace_headers() -> dict[str, str] | None:
    """The current trace context as W3C headers (``traceparent``), or None outside a trace."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier or None


@contextmanager
def within(headers: Mapping[str, str] | None) -> Iterator[None]:
    """Run the block in the trace of ``headers`` (from :func:`trace_headers`); None: as is."""
    if not headers:
        yield
        return
    token = context.attach(_PROPAGATOR.extract(dict(headers)))
    try:
        yield
    finally:
        context.detach(token)
