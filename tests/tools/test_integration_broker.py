"""``cdds-admin integration`` against the real RabbitMQ and MongoDB: with only what ``create``
printed, the broker lets an integration do its part of the public contract and refuses
everything else — another ``user_id``, another tenant's routing or binding keys, the internal
exchange and queues — and anything at all once it is revoked.

Each module run has its own virtual host (the services' user there has what it has on ``/``) and
its own MongoDB database; the integrations' broker users are deleted afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

import aio_pika
import aiormq
import httpx
import pytest
from pydantic import SecretStr

from cdds_shared.adapters.mongo import MongoDocumentStore
from cdds_shared.messaging.topology import EVENTS, INTEGRATION_EVENTS, INTEGRATION_REQUESTS
from cdds_shared.settings import MongoSettings
from cdds_tools.admin.cli import main
from cdds_tools.admin.integration_broker import OPERATOR_VARIABLE
from tests.infra import StackInfo
from tests.infra.isolation import rabbit_management, temporary_vhost
from tests.waiting import eventually

pytestmark = pytest.mark.integration

Refused = (aiormq.exceptions.ChannelAccessRefused, aiormq.exceptions.ChannelPreconditionFailed)


def admin(*argv: str) -> Any:
    """``cdds-admin`` in-process; its JSON output (it must succeed)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    assert code == 0, err.getvalue()
    return json.loads(out.getvalue())


@pytest.fixture(scope="module")
def services_url(stack: StackInfo) -> Iterator[str]:
    """The services' user on a virtual host of this module's own."""
    if stack.rabbit_operator is None:
        pytest.fail("integration users need a RabbitMQ operator (cdds-ops)", pytrace=False)
    with temporary_vhost(stack, production=True) as url:
        yield url


@pytest.fixture(scope="module")
def environment(stack: StackInfo, services_url: str) -> Iterator[None]:
    assert stack.rabbit_operator is not None
    database = f"cdds_test_integrations_{uuid.uuid4().hex[:10]}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CDDS_ENVIRONMENT", "test")
        patch.setenv("CDDS_MONGO__URL", stack.mongo_url)
        patch.setenv("CDDS_MONGO__DATABASE", database)
        patch.setenv("CDDS_RABBIT__URL", services_url)
        patch.setenv("CDDS_RABBIT__MANAGEMENT_URL", stack.rabbit_management_url)
        patch.setenv(OPERATOR_VARIABLE, ":".join(stack.rabbit_operator))
        yield

    async def drop() -> None:
        settings = MongoSettings(url=SecretStr(stack.mongo_url), database=database)
        async with MongoDocumentStore(settings) as store:
            await store.drop_database()

    asyncio.run(drop())


@pytest.fixture(scope="module")
def tenants(environment: None) -> tuple[str, str]:
    names = (f"acme-{uuid.uuid4().hex[:6]}", f"other-{uuid.uuid4().hex[:6]}")
    for name in names:
        admin("tenant", "create", name, "--ucs-tenant-id", str(random.randrange(1, 2**31)))
    return names


@pytest.fixture(scope="module")
def created(stack: StackInfo, tenants: tuple[str, str]) -> Iterator[dict[str, Any]]:
    """What ``integration create crm --tenant <acme>`` printed; its broker user removed after."""
    printed = admin("integration", "create", "crm", "--tenant", tenants[0])
    yield printed
    with rabbit_management(stack) as api:
        api.delete(f"/api/users/{printed['amqp']['username']}")


@pytest.fixture(scope="module")
async def topology(services_url: str, created: dict[str, Any]) -> AsyncIterator[None]:
    """The exchanges the services declare (``declare_topology``), as the services' user."""
    connection = await aio_pika.connect(services_url)
    async with connection:
        channel = await connection.channel()
        for exchange in (EVENTS, INTEGRATION_REQUESTS, INTEGRATION_EVENTS):
            await channel.declare_exchange(exchange.name, aio_pika.ExchangeType.TOPIC, durable=True)
        yield


@contextlib.asynccontextmanager
async def integrator(created: dict[str, Any]) -> AsyncIterator[aio_pika.abc.AbstractConnection]:
    connection = await aio_pika.connect(created["amqp"]["url"])
    async with connection:
        yield connection


def request(created: dict[str, Any], user_id: str | None = None) -> aio_pika.Message:
    return aio_pika.Message(
        b'{"schema_version": 1}',
        content_type="application/json",
        user_id=user_id if user_id is not None else created["amqp"]["username"],
    )


# -- what create prints ---------------------------------------------------------------------------


def test_create_prints_the_contract_once(created: dict[str, Any], tenants: tuple[str, str]) -> None:
    amqp = created["amqp"]
    assert created["token"].startswith("cdds_int_") and created["tenant"] == tenants[0]
    assert amqp["username"] == f"cdds-int.{tenants[0]}.crm"
    assert unquote(urlsplit(amqp["url"]).password or "") == amqp["password"]
    assert (amqp["requests_exchange"], amqp["events_exchange"], amqp["routing_prefix"]) == (
        "cdds.integration.requests",
        "cdds.integration.events",
        f"{tenants[0]}.",
    )
    listed = admin("integration", "list", "--tenant", tenants[0])["integrations"]
    assert [(i["name"], i["revoked_at"]) for i in listed] == [("crm", None)]
    assert created["token"] not in json.dumps(listed) and amqp["password"] not in json.dumps(listed)


def test_the_broker_user_has_no_management_access(
    stack: StackInfo, created: dict[str, Any]
) -> None:
    amqp = created["amqp"]
    answer = httpx.get(
        f"{stack.rabbit_management_url}/api/whoami", auth=(amqp["username"], amqp["password"])
    )
    assert answer.status_code == 401


# -- what it can do ------------------------------------------------------------------------------


async def test_it_receives_its_tenants_events_on_its_own_queue(
    topology: None, services_url: str, created: dict[str, Any], tenants: tuple[str, str]
) -> None:
    async with integrator(created) as connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(f"cdds.int.{tenants[0]}.crm.events", auto_delete=True)
        await queue.bind(INTEGRATION_EVENTS.name, routing_key=f"{tenants[0]}.#")
        services = await aio_pika.connect(services_url)
        async with services:
            publisher = await services.channel(publisher_confirms=True)
            events = await publisher.get_exchange(INTEGRATION_EVENTS.name, ensure=False)
            await events.publish(aio_pika.Message(b"other"), routing_key=f"{tenants[1]}.run.x")
            await events.publish(aio_pika.Message(b"ours"), routing_key=f"{tenants[0]}.run.x")
        message = await eventually(
            lambda: queue.get(fail=False, no_ack=True), what="the event on the integration queue"
        )
        assert message.body == b"ours"
        assert await queue.get(fail=False) is None  # never the other tenant's


async def test_it_publishes_requests_of_its_tenant_as_itself(
    topology: None, services_url: str, created: dict[str, Any], tenants: tuple[str, str]
) -> None:
    services = await aio_pika.connect(services_url)
    async with services:
        watcher = await services.channel()
        seen = await watcher.declare_queue(f"cdds.test.{uuid.uuid4().hex[:6]}", auto_delete=True)
        await seen.bind(INTEGRATION_REQUESTS.name, routing_key="#")
        async with integrator(created) as connection:
            channel = await connection.channel(publisher_confirms=True)
            requests = await channel.get_exchange(INTEGRATION_REQUESTS.name, ensure=False)
            await requests.publish(request(created), routing_key=f"{tenants[0]}.run.request")
        message = await eventually(lambda: seen.get(fail=False, no_ack=True), what="the request")
        assert message.user_id == created["amqp"]["username"]


# -- what the broker refuses ---------------------------------------------------------------------


async def publish_refused(
    created: dict[str, Any], exchange: str, routing_key: str, message: aio_pika.Message
) -> None:
    async with integrator(created) as connection:
        channel = await connection.channel(publisher_confirms=True)
        target = await channel.get_exchange(exchange, ensure=False)
        with pytest.raises(Refused):
            await target.publish(message, routing_key=routing_key)


async def test_a_publish_as_another_user_is_refused(
    topology: None, created: dict[str, Any], tenants: tuple[str, str]
) -> None:
    forged = request(created, user_id="cdds-services")
    await publish_refused(created, INTEGRATION_REQUESTS.name, f"{tenants[0]}.run.request", forged)


async def test_a_request_for_another_tenant_is_refused(
    topology: None, created: dict[str, Any], tenants: tuple[str, str]
) -> None:
    await publish_refused(
        created, INTEGRATION_REQUESTS.name, f"{tenants[1]}.run.request", request(created)
    )


async def test_the_internal_exchange_is_closed(
    topology: None, created: dict[str, Any], tenants: tuple[str, str]
) -> None:
    await publish_refused(created, EVENTS.name, "run.requested", request(created))
    await publish_refused(created, INTEGRATION_EVENTS.name, f"{tenants[0]}.run.x", request(created))


async def test_another_tenants_events_and_other_queues_are_closed(
    topology: None, created: dict[str, Any], tenants: tuple[str, str]
) -> None:
    own = f"cdds.int.{tenants[0]}.crm.spy"
    async with integrator(created) as connection:
        queue = await (await connection.channel()).declare_queue(own, auto_delete=True)
        for key in (f"{tenants[1]}.#", "#", "*.run.completed"):
            again = await (await connection.channel()).get_queue(queue.name, ensure=False)
            with pytest.raises(Refused):
                await again.bind(INTEGRATION_EVENTS.name, routing_key=key)
        for name in (f"cdds.int.{tenants[0]}.erp.events", f"cdds.int.{tenants[1]}.crm.events"):
            channel = await connection.channel()
            with pytest.raises(Refused):
                await channel.declare_queue(name, auto_delete=True)
        again = await (await connection.channel()).get_queue(queue.name, ensure=False)
        with pytest.raises(Refused):  # an internal exchange, even with its own tenant's key
            await again.bind(EVENTS.name, routing_key=f"{tenants[0]}.#")


async def test_nothing_works_after_revoke(
    stack: StackInfo, topology: None, services_url: str, tenants: tuple[str, str]
) -> None:
    printed = await asyncio.to_thread(
        admin, "integration", "create", "gone", "--tenant", tenants[0]
    )
    connection = await aio_pika.connect(printed["amqp"]["url"])
    closed: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    connection.close_callbacks.add(
        lambda _, reason=None: None if closed.done() else closed.set_result(reason)
    )
    try:
        await connection.channel()

        revoked = await asyncio.to_thread(
            admin, "integration", "revoke", "gone", "--tenant", tenants[0]
        )

        assert revoked["revoked_at"] is not None
        reason = await asyncio.wait_for(closed, timeout=30)  # RabbitMQ closes it at once
        assert "CONNECTION_FORCED" in str(reason) and "is deleted" in str(reason)
        with pytest.raises(aiormq.exceptions.AMQPConnectionError):
            await aio_pika.connect(printed["amqp"]["url"])
    finally:
        with contextlib.suppress(Exception):
            await connection.close()
        with rabbit_management(stack) as api:
            api.delete(f"/api/users/{printed['amqp']['username']}")
