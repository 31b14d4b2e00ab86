"""Probes that mean something (docs/operations.md, "Probes"): while RabbitMQ is unreachable for
a service, its liveness (``/healthz``) stays 200 — Kubernetes must not restart it — and its
readiness (``/readyz``) is 503 naming RabbitMQ; once RabbitMQ answers again it is ready again.

The shared RabbitMQ is never stopped: the service reaches it through a forwarder this test owns
(``forwarder.py``), and "down" means the forwarder drops every connection and refuses new ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from tests.e2e.forwarder import Forwarder
from tests.e2e.pipeline import Pipeline, Worker

pytestmark = pytest.mark.integration

INTERACTIONS, CONTACTS = 100, 10  # no run here: the pipeline only lends its servers
WORKER_ENV: dict[str, str] = {}


@pytest.fixture
def forwarder(pipeline: Pipeline) -> Iterator[Forwarder]:
    url = urlsplit(pipeline.settings.rabbit.url.get_secret_value())
    proxy = Forwarder(url.hostname or "127.0.0.1", url.port or 5672)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.close()


def _through(pipeline: Pipeline, proxy: Forwarder) -> str:
    url = urlsplit(pipeline.settings.rabbit.url.get_secret_value())
    credentials = url.netloc.rpartition("@")[0]
    return urlunsplit(url._replace(netloc=f"{credentials}@127.0.0.1:{proxy.port}"))


async def _probes(worker: Worker) -> tuple[int, int, str]:
    """``(/healthz status, /readyz status, /readyz body)``."""
    base = f"http://127.0.0.1:{worker.bound_port}"
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        alive = await client.get("/healthz")
        ready = await client.get("/readyz")
    return alive.status_code, ready.status_code, ready.text


@pytest.mark.parametrize("service", ["encryptor", "gateway"])
async def test_rabbitmq_unreachable_fails_readiness_never_liveness(
    pipeline: Pipeline, forwarder: Forwarder, service: str
) -> None:
    # Given a service whose only way to RabbitMQ is the forwarder
    worker = pipeline.worker(service, CDDS_RABBIT__URL=_through(pipeline, forwarder))
    try:
        assert (await _probes(worker))[:2] == (200, 200)
        seen_alive: set[int] = set()

        async def probes() -> tuple[int, int, str]:
            result = await _probes(worker)
            seen_alive.add(result[0])
            return result

        # When RabbitMQ stops answering it
        forwarder.cut()

        # Then it is not ready, naming RabbitMQ's setting, and alive all along
        _, _, body = await pipeline.wait_until(probes, lambda r: r[1] == 503)
        assert "CDDS_RABBIT__URL" in body, body
        for _ in range(5):  # the outage goes on: still alive
            await probes()
        assert seen_alive == {200}

        # When RabbitMQ answers again, it is ready again (and was alive all along)
        forwarder.start()
        await pipeline.wait_until(probes, lambda r: r[1] == 200)
        assert seen_alive == {200}
    finally:
        worker.stop()
