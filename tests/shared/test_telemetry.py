"""Tracing is off unless ``CDDS_OTEL__ENDPOINT`` is set (nothing installed: no provider, no
broker middleware, no FastAPI instrumentation), on with it (spans reach a local OTLP/HTTP
endpoint); a run's stored trace context is re-entered with ``within``. And the library loggers
(FastStream's) write JSON through the root handler (docs/operations.md, "Logs" and "Traces")."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from fastapi import FastAPI
from faststream.rabbit.opentelemetry import RabbitTelemetryMiddleware
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import SecretStr, ValidationError

from cdds_exporter.app import create_app as create_exporter
from cdds_gateway import tracing as gateway_tracing
from cdds_shared.logging import configure_logging
from cdds_shared.settings import (
    GatewaySettings,
    MinioSettings,
    MongoSettings,
    OtelSettings,
    RabbitSettings,
    Settings,
    UcsSettings,
)
from cdds_shared.telemetry import Tracing, trace_headers, tracing, within
from tests.infra import free_port

pytestmark = pytest.mark.unit


def _settings(**otel: str) -> Settings:
    """Nothing reachable: building an app must connect to nothing."""
    return Settings(
        environment="test",
        startup_timeout_seconds=0,
        rabbit=RabbitSettings(url=SecretStr(f"amqp://guest:guest@127.0.0.1:{free_port()}/")),
        mongo=MongoSettings(url=SecretStr(f"mongodb://127.0.0.1:{free_port()}/")),
        minio=MinioSettings(endpoint=f"127.0.0.1:{free_port()}"),
        ucs=UcsSettings(dsn=SecretStr(f"postgresql://u:p@127.0.0.1:{free_port()}/ucs")),
        otel=OtelSettings(**otel),
    )


def _telemetry_middlewares(app_broker: object) -> list[object]:
    middlewares = app_broker.config.broker_middlewares  # type: ignore[attr-defined]
    return [m for m in middlewares if isinstance(m, RabbitTelemetryMiddleware)]


def test_without_an_endpoint_nothing_is_installed() -> None:
    settings = _settings()
    assert tracing(settings, "exporter") == Tracing(provider=None, owned=False)

    app = create_exporter(settings)

    assert app.runtime.tracing.provider is None
    assert _telemetry_middlewares(app.broker) == []
    web = FastAPI()
    before = list(web.user_middleware)
    gateway_tracing.install(web, Tracing())
    assert web.user_middleware == before, "no FastAPI instrumentation"


def test_an_empty_endpoint_is_no_endpoint() -> None:
    assert OtelSettings(endpoint="", service_name="").endpoint is None


def test_with_an_endpoint_each_service_exports_under_its_name() -> None:
    settings = _settings(endpoint=f"http://127.0.0.1:{free_port()}/v1/traces")

    app = create_exporter(settings)

    provider = app.runtime.tracing.provider
    assert isinstance(provider, TracerProvider) and app.runtime.tracing.owned
    assert provider.resource.attributes["service.name"] == "cdds-exporter"
    assert len(_telemetry_middlewares(app.broker)) == 1
    app.runtime.tracing.close()  # nothing was recorded: nothing to send
    named = tracing(_settings(endpoint="http://collector:4318/v1/traces", service_name="x"), "gw")
    assert isinstance(named.provider, TracerProvider)
    assert named.provider.resource.attributes["service.name"] == "x"
    named.close()


def test_a_provider_handed_in_is_used_and_left_to_its_owner() -> None:
    provider = TracerProvider()
    app = create_exporter(_settings(), tracer_provider=provider)

    assert app.runtime.tracing == Tracing(provider, owned=False)
    assert len(_telemetry_middlewares(app.broker)) == 1


def test_a_stored_context_is_reentered() -> None:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    tracer = provider.get_tracer("test")
    assert trace_headers() is None, "no trace, nothing to store"

    with tracer.start_as_current_span("request") as request:
        stored = trace_headers()
    assert stored is not None and "traceparent" in stored
    with within(stored), tracer.start_as_current_span("dispatch"):
        pass
    with within(None), tracer.start_as_current_span("elsewhere"):
        pass

    by_name = {s.name: s for s in spans.get_finished_spans()}
    dispatch, elsewhere = by_name["dispatch"], by_name["elsewhere"]
    assert dispatch.context is not None and dispatch.parent is not None
    assert dispatch.context.trace_id == request.get_span_context().trace_id
    assert dispatch.parent.span_id == request.get_span_context().span_id
    assert elsewhere.parent is None
    assert trace.get_current_span() is trace.INVALID_SPAN, "within() restored the context"


def test_trusted_proxies_are_addresses_or_networks() -> None:
    assert GatewaySettings(trusted_proxies=("10.0.0.0/8", "192.0.2.7", "::1")).trusted_proxies
    with pytest.raises(ValidationError, match="not an IP address or CIDR"):
        GatewaySettings(trusted_proxies=("*",))


def test_faststreams_own_logger_writes_json(capsys: pytest.CaptureFixture[str]) -> None:
    faststream = logging.getLogger("faststream")
    faststream.addHandler(logging.StreamHandler())  # as FastStream's import does
    faststream.propagate = False

    configure_logging("INFO", json=True)
    faststream.info("FastStream app starting...")

    (line,) = capsys.readouterr().err.splitlines()
    logged = json.loads(line)
    assert logged["event"] == "FastStream app starting..." and logged["logger"] == "faststream"


class _Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP traces endpoint that keeps what it is sent."""

    received: ClassVar[list[tuple[str, str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_spans_reach_the_endpoint_over_otlp_http() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1/traces"
        traces = tracing(_settings(endpoint=url), "encryptor")
        assert traces.provider is not None
        traces.provider.get_tracer("test").start_span("part.staged process").end()

        traces.close()  # a stopping service flushes what it holds
    finally:
        server.shutdown()
        thread.join()

    ((path, content_type, body),) = _Collector.received
    assert (path, content_type) == ("/v1/traces", "application/x-protobuf")
    sent = ExportTraceServiceRequest.FromString(body)
    (resource_spans,) = sent.resource_spans
    names = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert names["service.name"] == "cdds-encryptor"
    assert [s.name for s in resource_spans.scope_spans[0].spans] == ["part.staged process"]


def test_a_line_logged_inside_a_span_names_its_trace(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json=True)
    tracer = TracerProvider().get_tracer("test")
    log = logging.getLogger("cdds.test")

    with tracer.start_as_current_span("part.staged process") as span:
        log.info("inside")
    log.info("outside")

    inside, outside = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert inside["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert "trace_id" not in outside
