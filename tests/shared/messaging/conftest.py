"""A RabbitMQ virtual host per test module, so tests never touch the running services' queues."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from urllib.parse import quote, urlsplit, urlunsplit

import aio_pika
import httpx
import pytest

from tests.infra import StackInfo


def _management(stack: StackInfo) -> httpx.Client:
    parts = urlsplit(stack.rabbit_url)
    return httpx.Client(
        base_url=stack.rabbit_management_url,
        auth=(parts.username or "guest", parts.password or "guest"),
        timeout=10,
    )


@pytest.fixture(scope="module")
def vhost_url(stack: StackInfo) -> Iterator[str]:
    import uuid

    name = f"cdds-test-{uuid.uuid4().hex[:8]}"
    parts = urlsplit(stack.rabbit_url)
    with _management(stack) as api:
        api.put(f"/api/vhosts/{quote(name, safe='')}").raise_for_status()
        api.put(
            f"/api/permissions/{quote(name, safe='')}/{parts.username or 'guest'}",
            json={"configure": ".*", "write": ".*", "read": ".*"},
        ).raise_for_status()
        yield urlunsplit(parts._replace(path="/" + quote(name, safe="")))
        api.delete(f"/api/vhosts/{quote(name, safe='')}")


@pytest.fixture
async def amqp(vhost_url: str) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    """A plain aio-pika channel to look at queues from the outside."""
    connection = await aio_pika.connect(vhost_url)
    async with connection:
        yield await connection.channel()
