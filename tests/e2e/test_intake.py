"""The intake end to end against the real RabbitMQ and MongoDB: an integration holding only what
``cdds-admin integration create`` printed publishes ``RequestRun`` and hears ``run.accepted`` or
``run.rejected`` on its own queue; a refused request is dead-lettered with its reason; the same
request twice is one run. (No exporter runs here: the run stays queued.)"""

# ruff: noqa: F811 - the integration module's fixtures are imported, then requested by name

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest
from pydantic import SecretStr

from cdds_gateway.app import create_app
from cdds_shared.messaging import WORK_QUEUES
from cdds_shared.messaging.public import EVENTS_EXCHANGE, REQUESTS_EXCHANGE
from cdds_shared.settings import MongoSettings, RabbitSettings
from tests.gateway.conftest import GATEWAY_URL, Gateway, gateway_settings, rsa_certificate
from tests.infra import StackInfo
from tests.queues import depth
from tests.tools.test_integration_broker import (  # noqa: F401 - the module's fixtures
    created,
    environment,
    services_url,
    tenants,
)
from tests.waiting import eventually

pytestmark = pytest.mark.integration

DEAD = f"{WORK_QUEUES['gateway-intake'].name}.dead"


@pytest.fixture(scope="module")
async def gateway(
    stack: StackInfo,
    services_url: str,
    created: dict[str, Any],
) -> AsyncIterator[Gateway]:
    """A gateway on the integration's virtual host and database, its certificate uploaded."""
    base = gateway_settings(stack, uuid.uuid4().hex[:10])
    settings = base.model_copy(
        update={
            "rabbit": RabbitSettings(
                url=SecretStr(services_url), management_url=stack.rabbit_management_url
            ),
            "mongo": MongoSettings(
                url=SecretStr(stack.mongo_url), database=os.environ["CDDS_MONGO__DATABASE"]
            ),
        }
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        running = Gateway(app, settings)
        async with running.client(GATEWAY_URL) as client:
            _, pem = rsa_certificate(name="crm")
            uploaded = await client.put(
                "/api/v1/me/certificate",
                content=pem,
                headers={"Authorization": f"Bearer {created['token']}"},
            )
            assert uploaded.status_code == 200, uploaded.text
        yield running


@pytest.fixture
async def integrator(
    gateway: Gateway,
    created: dict[str, Any],
) -> AsyncIterator[tuple[aio_pika.abc.AbstractChannel, aio_pika.abc.AbstractQueue]]:
    """The integration's connection and its events queue, bound to its tenant's events."""
    tenant = created["tenant"]
    connection = await aio_pika.connect(created["amqp"]["url"])
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(
            f"cdds.int.{tenant}.crm.events.{uuid.uuid4().hex[:6]}", auto_delete=True
        )
        await queue.bind(EVENTS_EXCHANGE, routing_key=f"{tenant}.#")
        yield channel, queue


async def ask(
    channel: aio_pika.abc.AbstractChannel, created: dict[str, Any], body: dict[str, Any] | bytes
) -> None:
    exchange = await channel.get_exchange(REQUESTS_EXCHANGE, ensure=False)
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    message = aio_pika.Message(
        payload, content_type="application/json", user_id=created["amqp"]["username"]
    )
    await exchange.publish(message, routing_key=f"{created['tenant']}.run.request")


async def answer(queue: aio_pika.abc.AbstractQueue) -> dict[str, Any]:
    async def one() -> aio_pika.abc.AbstractIncomingMessage | None:
        return await queue.get(fail=False, no_ack=True)

    message = await eventually(one, lambda m: m is not None, timeout=30, what="an answer")
    assert message is not None
    event: dict[str, Any] = json.loads(message.body)
    event["_routing_key"] = message.routing_key
    return event


def run_request(created: dict[str, Any], request_id: str) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "request_id": request_id,
        "tenant": created["tenant"],
        "record_type": "interaction",
        "media_types": None,
        "timeframe": {"start": "2026-11-01T00:00:00Z", "end": "2026-11-02T00:00:00Z"},
        "split_size_bytes": None,
        "title": "nightly archive",
    }


async def test_a_request_is_accepted_once_and_runs_as_the_integration(
    gateway: Gateway,
    integrator: tuple[aio_pika.abc.AbstractChannel, aio_pika.abc.AbstractQueue],
    created: dict[str, Any],
) -> None:
    channel, queue = integrator
    request_id = f"req-{uuid.uuid4().hex[:8]}"

    await ask(channel, created, run_request(created, request_id))
    accepted = await answer(queue)
    await ask(channel, created, run_request(created, request_id))
    again = await answer(queue)

    assert accepted["_routing_key"] == f"{created['tenant']}.run.accepted"
    assert accepted["request_id"] == request_id and again["run_id"] == accepted["run_id"]
    run = await gateway.deps.runs.get(accepted["run_id"])
    assert (run.tenant, run.request_id, run.status) == (created["tenant"], request_id, "queued")
    principal = await gateway.deps.identity.get_user(run.owner)
    assert principal.integration == "crm"


async def test_a_malformed_request_is_rejected_and_dead_lettered(
    gateway: Gateway,
    integrator: tuple[aio_pika.abc.AbstractChannel, aio_pika.abc.AbstractQueue],
    created: dict[str, Any],
    services_url: str,
) -> None:
    channel, queue = integrator
    services = await aio_pika.connect(services_url)  # the dead letters are the services' to see
    operator = await services.channel()
    before, _ = await depth(operator, DEAD)

    await ask(channel, created, b"{not json")
    rejected = await answer(queue)

    assert rejected["_routing_key"] == f"{created['tenant']}.run.rejected"
    assert rejected["code"] == "malformed" and rejected["request_id"] is None

    async def dead() -> int:
        return (await depth(operator, DEAD))[0]

    try:
        await eventually(dead, lambda n: n == before + 1, timeout=30, what="the dead letter")
    finally:
        await services.close()
