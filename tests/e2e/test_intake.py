"""The intake end to end against the real RabbitMQ and MongoDB: an integration holding only what
``cdds-admin integration create`` printed publishes ``RequestRun`` and hears ``run.accepted`` or
``run.rejected`` on its own queue; a refused request is dead-lettered with its reason; the same
request twice is one run. (No exporter runs here: the run stays queued.)"""

# ruff: noqa: F811 - the integration module's fixtures are imported, then requested by name

from __future__ import annotations

import asyncio
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
from tests.infra.isolation import rabbit_management
from tests.tools.test_integration_broker import (  # noqa: F401 - the module's fixtures
    admin,
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


async def dead_letter_of(
    operator: aio_pika.abc.AbstractChannel, body: bytes
) -> aio_pika.abc.AbstractIncomingMessage | None:
    """The dead letter whose body is ``body`` (the others are put back)."""
    queue = await operator.get_queue(DEAD, ensure=False)
    seen: list[aio_pika.abc.AbstractIncomingMessage] = []
    found = None
    while (message := await queue.get(fail=False)) is not None:
        if message.body == body and found is None:
            found = message
            await message.ack()
        else:
            seen.append(message)
    for message in seen:
        await message.nack(requeue=True)
    return found


def _other_tenant(created: dict[str, Any], tenants: tuple[str, str]) -> str:
    return next(t for t in tenants if t != created["tenant"])


@pytest.mark.parametrize(
    ("case", "code", "detail"),
    [
        ("malformed", "malformed", "not JSON"),
        ("invalid_timeframe", "invalid", "timeframe.end"),
        ("tenant_mismatch", "tenant_mismatch", "this integration belongs to"),
    ],
)
async def test_a_refused_request_is_rejected_with_its_reason_and_dead_lettered(
    gateway: Gateway,
    integrator: tuple[aio_pika.abc.AbstractChannel, aio_pika.abc.AbstractQueue],
    created: dict[str, Any],
    tenants: tuple[str, str],
    services_url: str,
    case: str,
    code: str,
    detail: str,
) -> None:
    channel, queue = integrator
    request_id = f"req-{uuid.uuid4().hex[:8]}"
    request = run_request(created, request_id)
    if case == "invalid_timeframe":
        request["timeframe"] = {"start": "2026-11-02T00:00:00Z", "end": "2026-11-01T00:00:00Z"}
    if case == "tenant_mismatch":
        request["tenant"] = _other_tenant(created, tenants)
    body = b"{not json" if case == "malformed" else json.dumps(request).encode()

    await ask(channel, created, body)
    rejected = await answer(queue)

    assert rejected["_routing_key"] == f"{created['tenant']}.run.rejected"
    assert rejected["code"] == code and detail in rejected["reason"], rejected
    assert rejected["request_id"] == (None if case == "malformed" else request_id)
    services = await aio_pika.connect(services_url)  # the dead letters are the services' to see
    try:
        operator = await services.channel()
        dead = await eventually(
            lambda: dead_letter_of(operator, body), timeout=30, what="the dead letter"
        )
        assert dead is not None
        assert str(dead.headers["x-cdds-reason"]).startswith(f"{code}: "), dead.headers
    finally:
        await services.close()
    if case != "malformed":
        assert (
            await gateway.deps.documents.collection("runs").count({"request_id": request_id}) == 0
        )


async def test_a_request_without_a_certificate_is_rejected_and_never_runs(
    gateway: Gateway,
    stack: StackInfo,
    created: dict[str, Any],
) -> None:
    """An integration made without ``--certificate``, that never uploaded one."""
    printed = await asyncio.to_thread(
        admin, "integration", "create", "nocert", "--tenant", created["tenant"]
    )
    try:
        connection = await aio_pika.connect(printed["amqp"]["url"])
        async with connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(
                f"cdds.int.{printed['tenant']}.nocert.events", auto_delete=True
            )
            await queue.bind(EVENTS_EXCHANGE, routing_key=f"{printed['tenant']}.#")
            request_id = f"req-{uuid.uuid4().hex[:8]}"

            await ask(channel, printed, run_request(printed, request_id))
            rejected = await answer(queue)

        assert rejected["code"] == "certificate_required", rejected
        assert rejected["request_id"] == request_id
        assert (
            await gateway.deps.documents.collection("runs").count({"request_id": request_id}) == 0
        )
    finally:
        with rabbit_management(stack) as api:
            api.delete(f"/api/users/{printed['amqp']['username']}")
