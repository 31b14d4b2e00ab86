"""Traces from the real worker processes (``faststream run``, tracing built from
``CDDS_OTEL__ENDPOINT``) reach an OTLP/HTTP endpoint, in the trace of the HTTP request that
started the run (docs/operations.md, "Traces"). The gateway runs in-process on an in-memory
exporter (its request span is read there); the exporter and encryptor processes export to a
collector of the test's own, and flush when they stop."""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from pydantic import SecretStr

from cdds_gateway.app import create_app as create_gateway
from cdds_shared.adapters.minio_store import MinioObjectStore
from cdds_shared.adapters.mongo import MongoDocumentStore
from cdds_tools.workers import WorkerProcess
from tests.e2e.test_traces import CONVERSATION, Traced, _completed_runs, _provider
from tests.gateway.conftest import Gateway, gateway_settings
from tests.infra import StackInfo

pytestmark = [pytest.mark.integration, pytest.mark.slow]

INTERACTIONS, CONTACTS = 300, 40  # read by the ucs_tenants fixture


@dataclass(frozen=True)
class Exported:
    service: str
    name: str
    trace_id: int
    conversation: str


@dataclass
class Collector:
    url: str
    spans: list[Exported] = field(default_factory=list)


@pytest.fixture
def collector() -> Iterator[Collector]:
    """An OTLP/HTTP traces endpoint on a free port, keeping every span it is sent."""
    got = Collector("")

    class Handler(BaseHTTPRequestHandler):
        lock: ClassVar[threading.Lock] = threading.Lock()

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            sent = ExportTraceServiceRequest.FromString(body)
            with self.lock:
                for resource in sent.resource_spans:
                    attributes = {a.key: a.value.string_value for a in resource.resource.attributes}
                    for scope in resource.scope_spans:
                        for span in scope.spans:
                            values = {a.key: a.value.string_value for a in span.attributes}
                            got.spans.append(
                                Exported(
                                    attributes["service.name"],
                                    span.name,
                                    int.from_bytes(span.trace_id, "big"),
                                    values.get(CONVERSATION, ""),
                                )
                            )
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    got.url = f"http://127.0.0.1:{server.server_address[1]}/v1/traces"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield got
    finally:
        server.shutdown()
        thread.join()


@dataclass
class Running:
    traced: Traced
    workers: list[WorkerProcess]

    async def stop_workers(self) -> None:
        """SIGTERM: each drains, then flushes its spans to the collector before it exits."""
        for worker in self.workers:
            await asyncio.to_thread(worker.stop)


@pytest.fixture
async def running(
    stack: StackInfo,
    vhost: str,
    ucs_tenants: tuple[str, int, int],
    collector: Collector,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Running]:
    dsn, _, _ = ucs_tenants
    base = gateway_settings(stack, uuid.uuid4().hex[:10], scheduler_interval_seconds=3600)
    settings = base.model_copy(
        update={"rabbit": base.rabbit.model_copy(update={"url": SecretStr(vhost)})}
    )
    spans = InMemorySpanExporter()
    app = create_gateway(settings, tracer_provider=_provider("gateway", spans))
    logs = tmp_path_factory.mktemp("otlp")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDDS_")}
    env |= stack.env() | {
        "CDDS_ENVIRONMENT": "test",
        "CDDS_RABBIT__URL": vhost,
        "CDDS_MONGO__DATABASE": settings.mongo.database,
        "CDDS_MINIO__BUCKET": settings.minio.bucket,
        "CDDS_UCS__DSN": dsn,
        "CDDS_STARTUP_TIMEOUT_SECONDS": "10",
        "CDDS_EXPORT__PARTITION_RECORDS": "100",
        "CDDS_OTEL__ENDPOINT": collector.url,
    }
    workers = [WorkerProcess(s, env, logs / f"{s}.log") for s in ("exporter", "encryptor")]
    async with app.router.lifespan_context(app):
        gateway = Gateway(app, settings)
        try:
            for worker in workers:
                await asyncio.to_thread(worker.start)
            yield Running(Traced(gateway, spans, AsyncExitStack()), workers)
        finally:
            for worker in workers:
                await asyncio.to_thread(worker.stop)
            documents, objects = gateway.deps.documents, gateway.deps.objects
            assert isinstance(documents, MongoDocumentStore)
            await documents.drop_database()
            if isinstance(objects, MinioObjectStore):
                await objects.remove_bucket()


async def test_the_worker_processes_export_the_runs_spans_in_the_requests_trace(
    running: Running, collector: Collector, ucs_tenants: tuple[str, int, int], tmp_path: Path
) -> None:
    _, tenant_id, _ = ucs_tenants

    # When runs started through the REST API complete and the workers stop
    run_ids = await _completed_runs(running.traced, tenant_id, tmp_path)
    await running.stop_workers()

    # Then each worker sent the collector spans of each run, under its own service name, all in
    # the trace of the HTTP request that started the run
    requests = {
        s.context.trace_id
        for s in running.traced.spans.get_finished_spans()
        if s.kind is SpanKind.SERVER
        and s.context is not None
        and s.attributes is not None
        and s.attributes.get("http.route") == "/api/v1/jobs"
    }
    assert len(requests) == len(run_ids)
    for run_id in run_ids:
        of_run = [s for s in collector.spans if s.conversation == run_id]
        assert {s.service for s in of_run} == {"cdds-exporter", "cdds-encryptor"}, of_run
        assert {s.name for s in of_run} >= {
            "cdds.events.run.requested process",
            "cdds.events.partition.export process",
            "cdds.events.part.staged process",
        }
        (trace_id,) = {s.trace_id for s in of_run}
        assert trace_id in requests, "the trace of the request that started it"
