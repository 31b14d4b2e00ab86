"""One trace per run (docs/operations.md, "Traces"): the gateway, exporter and encryptor apps
in-process, each with its own tracer provider (its own ``service.name``) recording into one
in-memory exporter, against the real RabbitMQ, MongoDB, MinIO and PostgreSQL. Two runs of one
tenant started through the REST API are followed until they complete; then, for each, every
span of the run shares its HTTP request's trace id, the exporter and the encryptor each consumed
its messages, and every consumer span's parent chain leads back to the HTTP request's span. One
partition of the tenant is in flight at a time, so the second run's partitions are dispatched
while the first run's messages are handled: they must still join the second run's trace."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from pydantic import SecretStr

from cdds_encryptor.app import create_app as create_encryptor
from cdds_exporter.app import create_app as create_exporter
from cdds_gateway.app import create_app as create_gateway
from cdds_shared.adapters.minio_store import MinioObjectStore
from cdds_shared.adapters.mongo import MongoDocumentStore
from cdds_tools.identity import make_identity
from tests.gateway.conftest import Gateway, gateway_settings, new_user, sign_in
from tests.infra import StackInfo

pytestmark = [pytest.mark.integration, pytest.mark.slow]

INTERACTIONS, CONTACTS = 300, 40  # read by the ucs_tenants fixture
PARTITION_RECORDS = 100  # three partitions per run, one of the tenant's in flight at a time
CONVERSATION = "messaging.message.conversation_id"  # FastStream: the message's correlation id


@dataclass
class Traced:
    gateway: Gateway
    spans: InMemorySpanExporter
    workers: AsyncExitStack

    async def stop_workers(self) -> None:
        """Their in-flight handlers finish first: every span of theirs has ended after it."""
        await self.workers.aclose()


def _provider(service: str, spans: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: f"cdds-{service}"}))
    provider.add_span_processor(SimpleSpanProcessor(spans))  # exported as each span ends
    return provider


@pytest.fixture
async def traced(
    stack: StackInfo, vhost: str, ucs_tenants: tuple[str, int, int], tmp_path: Path
) -> AsyncIterator[Traced]:
    """The three apps started on one private virtual host, database, bucket and UCS database;
    stopped (in-flight handlers finished, so their spans ended) when the test's block ends."""
    dsn, _, _ = ucs_tenants
    base = gateway_settings(stack, uuid.uuid4().hex[:10], scheduler_interval_seconds=3600)
    settings = base.model_copy(
        update={
            "rabbit": base.rabbit.model_copy(update={"url": SecretStr(vhost)}),
            "ucs": base.ucs.model_copy(update={"dsn": SecretStr(dsn)}),
            "export": base.export.model_copy(
                update={"partition_records": PARTITION_RECORDS, "partitions_per_tenant": 1}
            ),
        }
    )
    spans = InMemorySpanExporter()
    gateway_app = create_gateway(settings, tracer_provider=_provider("gateway", spans))
    workers = [
        create_exporter(settings, tracer_provider=_provider("exporter", spans)),
        create_encryptor(settings, tracer_provider=_provider("encryptor", spans)),
    ]
    async with gateway_app.router.lifespan_context(gateway_app):
        gateway = Gateway(gateway_app, settings)
        try:
            async with AsyncExitStack() as running:
                for worker in workers:
                    await running.enter_async_context(worker)  # start(); stop() on exit
                yield Traced(gateway, spans, running)
        finally:
            documents, objects = gateway.deps.documents, gateway.deps.objects
            assert isinstance(documents, MongoDocumentStore)
            await documents.drop_database()
            if isinstance(objects, MinioObjectStore):
                await objects.remove_bucket()


async def _completed_runs(traced: Traced, tenant_id: int, tmp_path: Path) -> list[str]:
    """Two runs of one user started back to back, once both completed."""
    gateway = traced.gateway
    tenant = await gateway.identity.create_tenant(f"trace-{uuid.uuid4().hex[:6]}", tenant_id)
    cert, _, _ = make_identity(tmp_path)
    async with gateway.client() as api:
        auth = (await sign_in(api, await new_user(gateway, tenant))).bearer
        uploaded = await api.put(
            "/api/v1/me/certificate",
            content=cert.public_bytes(Encoding.PEM),
            headers={**auth, "Content-Type": "application/x-pem-file"},
        )
        assert uploaded.status_code == 200, uploaded.text
        traced.spans.clear()  # sign-in and upload are traces of their own
        run_ids: list[str] = []
        for title in ("First", "Second"):
            body = {"title": title, "type": "interaction", "run_now": True}
            created = await api.post("/api/v1/jobs", json=body, headers=auth)
            assert created.status_code == 201, created.text
            run_ids.append(created.json()["run_id"])
        for run_id in run_ids:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                run = (await api.get(f"/api/v1/runs/{run_id}", headers=auth)).json()
                if run["status"] in ("completed", "failed", "no_data", "cancelled"):
                    break
                await asyncio.sleep(0.2)
            assert run["status"] == "completed", run
            assert run["files"] >= 3, "one file per partition at least"
    return run_ids


def _chain(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[ReadableSpan]:
    """``span`` and its ancestors, up to the first whose parent was not recorded."""
    chain = [span]
    while chain[-1].parent is not None and chain[-1].parent.span_id in by_id:
        chain.append(by_id[chain[-1].parent.span_id])
    return chain


def _service(span: ReadableSpan) -> str:
    return str(span.resource.attributes[SERVICE_NAME])


async def test_a_run_is_one_trace_from_the_http_request_through_every_message(
    traced: Traced, ucs_tenants: tuple[str, int, int], tmp_path: Path
) -> None:
    _, tenant_id, _ = ucs_tenants

    # When two runs are started through the REST API and complete
    run_ids = await _completed_runs(traced, tenant_id, tmp_path)
    await traced.stop_workers()
    spans = list(traced.spans.get_finished_spans())
    by_id = {s.context.span_id: s for s in spans if s.context is not None}

    # Then each request that started one is a server span of the gateway, in a trace of its own
    requests = [
        s
        for s in spans
        if s.kind is SpanKind.SERVER
        and s.attributes is not None
        and s.attributes.get("http.route") == "/api/v1/jobs"
    ]
    assert len(requests) == 2
    assert all(_service(r) == "cdds-gateway" and r.parent is None for r in requests)
    assert len({r.context.trace_id for r in requests if r.context}) == 2
    for run_id in run_ids:
        _assert_one_trace(run_id, spans, requests, by_id)


def _assert_one_trace(
    run_id: str,
    spans: list[ReadableSpan],
    requests: list[ReadableSpan],
    by_id: dict[int, ReadableSpan],
) -> None:
    of_run = [s for s in spans if s.attributes and s.attributes.get(CONVERSATION) == run_id]
    assert of_run, "no span about the run's messages"
    # The request is the one whose trace the run's first message is in
    (first,) = [s for s in of_run if s.kind is SpanKind.CONSUMER and "run.requested" in s.name]
    (request,) = [r for r in requests if r.context and first.context
                  and r.context.trace_id == first.context.trace_id]  # fmt: skip
    assert request.context is not None
    trace_id = request.context.trace_id

    # And every span about the run's messages is in the request's trace
    outside = [
        (s.name, _service(s)) for s in of_run if s.context and s.context.trace_id != trace_id
    ]
    assert outside == [], f"spans of run {run_id} in another trace"

    # And the exporter consumed the request and the partitions, the encryptor the parts
    consumers = [s for s in of_run if s.kind is SpanKind.CONSUMER and s.name.endswith("process")]
    by_service: dict[str, set[str]] = {}
    for span in consumers:
        by_service.setdefault(_service(span), set()).add(span.name)
    assert {"cdds-exporter", "cdds-encryptor"} <= set(by_service), by_service
    assert any("run.requested" in name for name in by_service["cdds-exporter"]), by_service
    assert any("partition.export" in name for name in by_service["cdds-exporter"]), by_service
    assert any("part.staged" in name for name in by_service["cdds-encryptor"]), by_service
    partitions = [s for s in consumers if "partition.export" in s.name]
    assert len(partitions) >= 3, "each partition's delivery is in the trace"

    # And each consumer span's parents lead back to the HTTP request's span
    for span in consumers:
        chain = _chain(span, by_id)
        assert chain[-1] is request, [(s.name, _service(s)) for s in chain]
