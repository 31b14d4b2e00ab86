"""``cdds-admin dead-letters list|replay`` against the real broker, in a private virtual host.

Dead letters are made the way the workers make them: a permanent error through the fate policy
(``x-cdds-reason``) and a malformed body rejected through RabbitMQ's dead-letter exchange.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import aio_pika
import pytest

from cdds_shared.errors import PermanentError
from cdds_shared.messaging import (
    EVENTS,
    FatePolicy,
    RunRequested,
    Topology,
    WorkQueue,
    declare_topology,
    make_broker,
)
from cdds_shared.messaging.fate import ATTEMPTS, REASON
from cdds_shared.settings import RabbitSettings
from cdds_tools.admin.cli import main
from tests.infra import StackInfo
from tests.infra.isolation import temporary_vhost

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def vhost_url(stack: StackInfo) -> Iterator[str]:
    with temporary_vhost(stack) as url:
        yield url


def _request(run_id: str) -> dict[str, Any]:
    return RunRequested(
        correlation_id=run_id,
        run_id=run_id,
        tenant="acme",
        ucs_tenant_id=101,
        owner="u1",
        record_type="interaction",
    ).model_dump(mode="json")


async def _dead_count(url: str, queue: str) -> int:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        q = await channel.declare_queue(f"{queue}.dead", passive=True)
        return int(q.declaration_result.message_count or 0)


async def _make_dead_letters(url: str, spec: WorkQueue, runs: list[str]) -> None:
    """Two kinds of dead letter in ``spec``'s dead queue: permanent errors and a malformed body."""
    topology = Topology()
    broker = make_broker(RabbitSettings(url=url), fate=FatePolicy())  # type: ignore[arg-type]

    @broker.subscriber(topology.queue(spec), EVENTS)
    async def handle(message: RunRequested) -> None:
        raise PermanentError(f"certificate of {message.owner} missing")

    async with broker:
        await broker.start()
        await declare_topology(broker, topology, specs=(spec,))
        for run_id in runs:
            await broker.publish(
                _request(run_id),
                exchange=EVENTS,
                routing_key=spec.routing_key,
                correlation_id=run_id,
            )
        await broker.publish(b"not json", exchange=EVENTS, routing_key=spec.routing_key)
        async with asyncio.timeout(20):
            while True:
                if await _dead_count(url, spec.name) == len(runs) + 1:
                    return
                await asyncio.sleep(0.05)


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    status = main(["dead-letters", *argv])
    out = capsys.readouterr().out
    assert status == 0, out
    result: dict[str, Any] = json.loads(out)
    return result


def test_dead_letters_are_listed_then_replayed_to_their_work_queue(
    vhost_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a work queue with two permanent failures and one malformed body in its dead letters
    name = f"test.{uuid.uuid4().hex[:10]}"
    spec = WorkQueue(name, name)
    asyncio.run(_make_dead_letters(vhost_url, spec, ["run-a", "run-b"]))
    monkeypatch.setenv("CDDS_RABBIT__URL", vhost_url)
    capsys.readouterr()  # the setup broker's log lines

    # When the operator lists them
    listed = _cli(capsys, "list", name)

    # Then each shows its ids, routing key, reason and time, and all stay in the dead queue
    assert listed["count"] == 3
    by_run = {m["run_id"]: m for m in listed["messages"]}
    assert set(by_run) == {"run-a", "run-b", None}
    assert by_run["run-a"]["reason"] == "certificate of u1 missing"
    assert by_run["run-a"]["routing_key"] == name
    assert by_run["run-a"]["correlation_id"] == "run-a"
    assert by_run["run-a"]["dead_at"]
    assert by_run[None]["reason"] == "rejected"
    assert by_run[None]["dead_at"]
    assert "not json" not in json.dumps(listed)
    assert asyncio.run(_dead_count(vhost_url, name)) == 3

    # When one is replayed
    replayed = _cli(capsys, "replay", f"{name}.dead", "--limit", "1")

    # Then it is back in the work queue with fresh retry headers, and gone from the dead queue
    assert replayed["replayed"] == 1
    assert asyncio.run(_dead_count(vhost_url, name)) == 2
    back = asyncio.run(_take(vhost_url, name))
    assert back.message_id == replayed["messages"][0]["message_id"]
    assert ATTEMPTS not in (back.headers or {})
    assert REASON not in (back.headers or {})
    assert not any(str(k).startswith("x-death") for k in back.headers or {})

    # When the rest are replayed, the dead queue is empty
    assert _cli(capsys, "replay", name)["replayed"] == 2
    assert asyncio.run(_dead_count(vhost_url, name)) == 0


async def _take(url: str, queue: str) -> aio_pika.abc.AbstractIncomingMessage:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        q = await channel.get_queue(queue, ensure=False)
        async with asyncio.timeout(10):
            while True:
                message = await q.get(no_ack=False, fail=False)
                if message is not None:
                    await message.ack()
                    return message
                await asyncio.sleep(0.05)


def test_an_unknown_queue_is_one_clear_line(
    vhost_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CDDS_RABBIT__URL", vhost_url)
    assert main(["dead-letters", "list", "no.such.queue"]) == 2
    assert "no queue 'no.such.queue.dead'" in capsys.readouterr().err
