"""The shared metrics (``cdds_shared.metrics``), in memory (unit: no server): FastStream's
message metrics see how the fate policy settled each message; queue depths and dead letters
from a management API that answers, refuses or times out, never failing the scrape; the
domain counters."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from faststream.rabbit import (
    ExchangeType,
    RabbitBroker,
    RabbitExchange,
    RabbitQueue,
    TestRabbitBroker,
)
from prometheus_client import CollectorRegistry
from pydantic import BaseModel, SecretStr

from cdds_shared.messaging import make_broker
from cdds_shared.messaging.public import EVENTS_EXCHANGE
from cdds_shared.metrics import (
    DownloadMetrics,
    EncryptorMetrics,
    ExporterMetrics,
    QueueMetrics,
    RunMetrics,
    broker_metrics,
    new_registry,
    render,
)
from cdds_shared.metrics.registry import _without_tenant
from cdds_shared.settings import RabbitSettings
from tests.prometheus import parse

pytestmark = pytest.mark.unit


class Ping(BaseModel):
    n: int


def metered_broker() -> tuple[RabbitBroker, list[int], CollectorRegistry]:
    registry = new_registry()
    broker = make_broker(RabbitSettings(), middlewares=(broker_metrics(registry, "test"),))
    seen: list[int] = []

    @broker.subscriber(RabbitQueue("cdds.test.ping"))
    async def on_ping(message: Ping) -> None:
        seen.append(message.n)

    return broker, seen, registry


async def test_the_broker_metrics_count_acked_and_rejected_per_handler() -> None:
    broker, seen, registry = metered_broker()
    async with TestRabbitBroker(broker) as test:
        await test.publish({"n": 1}, queue="cdds.test.ping")
        await test.publish({"n": 2}, queue="cdds.test.ping")
        await test.publish(b"not json", queue="cdds.test.ping")  # the fate: reject (dead letter)
    assert seen == [1, 2]
    s = parse(await render(registry))
    processed = "faststream_received_processed_messages_total"
    labels = {"app_name": "cdds-test", "broker": "rabbitmq", "handler": "default.cdds.test.ping"}
    assert s.value("faststream_received_messages_total", **labels) == 3
    assert s.value(processed, **labels, status="acked") == 2
    assert s.value(processed, **labels, status="rejected") == 1
    assert s.value("faststream_received_processed_messages_duration_seconds_count", **labels) == 3


async def test_the_public_exchanges_are_counted_without_the_tenant() -> None:
    registry = new_registry()
    broker = make_broker(RabbitSettings(), middlewares=(broker_metrics(registry, "gateway"),))
    public = RabbitExchange(EVENTS_EXCHANGE, type=ExchangeType.TOPIC)

    @broker.subscriber(RabbitQueue("cdds.test.public", routing_key="*.run.completed"), public)
    async def listener(message: Ping) -> None:
        pass

    async with TestRabbitBroker(broker) as test:
        for tenant in ("acme", "globex"):
            await test.publish({"n": 1}, exchange=public, routing_key=f"{tenant}.run.completed")
    s = parse(await render(registry))
    published = {dict(ls)["destination"] for n, ls in s.samples if "published" in n and ls}
    assert published == {"cdds.integration.events.*.run.completed"}
    assert s.total("faststream_published_messages_total", status="success") == 2
    handlers = {dict(ls)["handler"] for n, ls in s.samples if "received" in n and ls}
    assert handlers == {"cdds.integration.events.*.run.completed"}
    assert _without_tenant("cdds.events.part.staged") == "cdds.events.part.staged"


def management(answer: httpx.Response | Exception) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/queues/cdds-prod"  # the vhost of CDDS_RABBIT__URL
        assert request.headers["authorization"].startswith("Basic ")
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.MockTransport(handle)


SETTINGS = RabbitSettings(
    url=SecretStr("amqp://cdds-services:pw@rabbit:5672/cdds-prod"),
    management_url="http://rabbit:15672",
)
QUEUES = [
    {"name": "cdds.encryptor.part-staged", "messages": 7, "messages_ready": 5},
    {"name": "cdds.encryptor.part-staged.dead", "messages": 2, "messages_ready": 2},
    {"name": "cdds.exporter.export-partition.dead", "messages": 0, "messages_ready": 0},
    {"name": "someone.elses", "messages": 99, "messages_ready": 99},
]


async def test_queue_depths_and_dead_letters_come_from_the_management_api() -> None:
    registry = new_registry()
    queues = QueueMetrics(
        SETTINGS, registry, transport=management(httpx.Response(200, json=QUEUES))
    )
    s = parse(await render(registry, [queues.refresh]))
    assert s.value("cdds_rabbitmq_management_up") == 1
    assert s.value("cdds_rabbitmq_queue_messages", queue="cdds.encryptor.part-staged") == 7
    assert s.value("cdds_rabbitmq_queue_messages_ready", queue="cdds.encryptor.part-staged") == 5
    assert s.value("cdds_rabbitmq_dead_letters", queue="cdds.encryptor.part-staged.dead") == 2
    dead = {dict(ls)["queue"] for n, ls in s.samples if n == "cdds_rabbitmq_dead_letters"}
    assert dead == {"cdds.encryptor.part-staged.dead", "cdds.exporter.export-partition.dead"}
    assert s.total("cdds_rabbitmq_queue_messages", queue="someone.elses") == 0  # not ours


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(401, json={"error": "not_authorised"}),
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.Response(200, text="<html>"),
        httpx.Response(200, json={"error": "not a list"}),
        httpx.Response(200, json=[{"name": "cdds.q", "messages": "many"}]),
    ],
    ids=["refused credentials", "down", "timeout", "not json", "not a list", "not a number"],
)
async def test_a_management_api_that_fails_leaves_up_0_and_the_scrape_answering(
    answer: httpx.Response | Exception,
) -> None:
    registry = new_registry()
    ok = QueueMetrics(SETTINGS, registry, transport=management(httpx.Response(200, json=QUEUES)))
    await ok.refresh()
    ok._transport = management(answer)  # the same collector, now failing

    s = parse(await render(registry, [ok.refresh]))

    assert s.value("cdds_rabbitmq_management_up") == 0
    assert not s.has("cdds_rabbitmq_queue_messages")  # no stale depths
    assert not s.has("cdds_rabbitmq_dead_letters")


async def test_a_refresh_that_raises_does_not_fail_the_scrape() -> None:
    registry = new_registry()
    RunMetrics(registry).started.inc()

    async def broken() -> None:
        raise RuntimeError("boom")

    assert parse(await render(registry, [broken])).value("cdds_runs_started_total") == 1


async def test_the_domain_counters() -> None:
    registry = new_registry()
    runs, exporter = RunMetrics(registry), ExporterMetrics(registry)
    encryptor, downloads = EncryptorMetrics(registry), DownloadMetrics(registry)
    runs.started.inc()
    runs.ended("completed")
    runs.ended("failed")
    exporter.staged(records=1100, size=4096)
    exporter.staged(records=900, size=1024)
    now = datetime(2026, 12, 3, 12, tzinfo=UTC)
    exporter.in_progress([now - timedelta(minutes=5), now - timedelta(hours=1)], now)
    with encryptor.sealing():
        encryptor.sealed(5000)

    async def body() -> object:
        for chunk in (b"abc", b"de"):
            yield chunk

    downloads.started("stream")
    served = [c async for c in downloads.counted("stream", body())]  # type: ignore[arg-type]

    s = parse(await render(registry))
    assert s.value("cdds_runs_started_total") == 1
    assert s.value("cdds_runs_completed_total", status="completed") == 1
    assert s.value("cdds_runs_completed_total", status="no_data") == 0
    assert s.value("cdds_runs_failed_total") == 1
    assert s.value("cdds_exporter_parts_staged_total") == 2
    assert s.value("cdds_exporter_records_exported_total") == 2000
    assert s.value("cdds_exporter_bytes_exported_total") == 5120
    assert s.value("cdds_runs_active") == 2
    assert s.value("cdds_runs_oldest_active_age_seconds") == 3600
    assert s.value("cdds_encryptor_parts_sealed_total") == 1
    assert s.value("cdds_encryptor_bytes_sealed_total") == 5000
    assert s.value("cdds_encryptor_seal_duration_seconds_count") == 1
    assert served == [b"abc", b"de"]
    assert s.value("cdds_gateway_downloads_total", via="stream") == 1
    assert s.value("cdds_gateway_download_bytes_total", via="stream") == 5
    assert json.loads(json.dumps(s.families))  # every family has a type
