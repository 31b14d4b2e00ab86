"""A RabbitMQ virtual host per test module, so tests never touch the running services' queues."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import aio_pika
import pytest

from tests.infra import StackInfo
from tests.infra.isolation import temporary_vhost


@pytest.fixture(scope="module")
def vhost_url(stack: StackInfo) -> Iterator[str]:
    with temporary_vhost(stack) as url:
        yield url


@pytest.fixture
async def amqp(vhost_url: str) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    """A plain aio-pika channel to look at queues from the outside."""
    connection = await aio_pika.connect(vhost_url)
    async with connection:
        yield await connection.channel()
