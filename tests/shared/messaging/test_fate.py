"""A message's fate against the real broker (``cdds_shared.messaging.fate``): delayed retries
through the tier queues without holding the consumer, a budget in time, dead letters with the
reason, the run failed once, and the pause while a dependency is down.

Small tiers and budgets (0.2 s / 0.5 s, 1-2 s) keep each story within seconds.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import aio_pika
import pytest
from faststream.rabbit import Channel, RabbitBroker, RabbitMessage

from cdds_shared.errors import DependencyUnavailable, ForgedMessage, PermanentError, TransientError
from cdds_shared.messaging import (
    EVENTS,
    DependencyGate,
    FatePolicy,
    RunRequested,
    Topology,
    WorkQueue,
    declare_topology,
    make_broker,
)
from cdds_shared.messaging.fate import ATTEMPTS, FIRST_FAILURE, LAST_REASON, ORIGIN_QUEUE, REASON
from cdds_shared.settings import RabbitSettings, RetrySettings

pytestmark = pytest.mark.integration

TIERS = (0.2, 0.5)
WAIT = 20.0


def _request(run_id: str) -> dict[str, Any]:
    return RunRequested(
        correlation_id=run_id,
        run_id=run_id,
        tenant="acme",
        ucs_tenant_id=101,
        owner="u1",
        record_type="interaction",
    ).model_dump(mode="json")


class GiveUps:
    """A recording ``on_give_up``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def __call__(self, run_id: str, reason: str) -> None:
        self.calls.append((run_id, reason))


def _setup(
    url: str, unique: str, budget: float, gate: DependencyGate | None = None
) -> tuple[RabbitBroker, Topology, WorkQueue, GiveUps]:
    retry = RetrySettings(budget_seconds=budget, tiers_seconds=TIERS, probe_interval_seconds=0.1)
    topology = Topology(delivery_limit=5, retry_tiers=TIERS)
    give_ups = GiveUps()
    fate = FatePolicy(retry, topology, on_give_up=give_ups, gate=gate)
    broker = make_broker(RabbitSettings(url=url), fate=fate)  # type: ignore[arg-type]
    return broker, topology, WorkQueue(f"test.{unique}", f"test.{unique}"), give_ups


async def _until(predicate: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    """Poll ``predicate`` until it holds (bounded); fail naming ``what``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        if predicate():
            return
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.02)


async def _dead_letter(
    amqp: aio_pika.abc.AbstractChannel, queue: str, timeout: float = WAIT
) -> aio_pika.abc.AbstractIncomingMessage:
    q = await amqp.get_queue(f"{queue}.dead", ensure=False)
    async with asyncio.timeout(timeout):
        while True:
            message = await q.get(no_ack=False, fail=False)
            if message is not None:
                await message.ack()
                return message
            await asyncio.sleep(0.05)


async def _dead_count(amqp: aio_pika.abc.AbstractChannel, queue: str) -> int:
    q = await amqp.declare_queue(f"{queue}.dead", passive=True)
    return int(q.declaration_result.message_count or 0)


async def _run(
    broker: RabbitBroker,
    topology: Topology,
    spec: WorkQueue,
    bodies: list[Any],
    until: Callable[[], Awaitable[None]],
) -> None:
    async with broker:
        await broker.start()
        await declare_topology(broker, topology, specs=(spec,))
        for body in bodies:
            await broker.publish(body, exchange=EVENTS, routing_key=spec.routing_key)
        await until()


async def test_a_transient_failure_comes_back_later_while_other_work_goes_on(
    vhost_url: str, unique: str
) -> None:
    # Given a consumer that takes one message at a time, and a first message that fails once
    broker, topology, spec, give_ups = _setup(vhost_url, unique, budget=30)
    seen: list[tuple[str, dict[str, Any]]] = []

    @broker.subscriber(topology.queue(spec), EVENTS, channel=Channel(prefetch_count=1))
    async def handle(body: dict[str, Any], msg: RabbitMessage) -> None:
        seen.append((body["run_id"], dict(msg.headers)))
        if body["run_id"] == "a" and len([s for s in seen if s[0] == "a"]) == 1:
            raise TransientError("MinIO briefly down")

    # When both are published
    async def handled_twice() -> None:
        await _until(lambda: [s[0] for s in seen].count("a") == 2, "a was not retried")

    await _run(broker, topology, spec, [_request("a"), _request("b")], handled_twice)

    # Then b was handled while a waited in the retry queue, and a came back with its story
    assert [s[0] for s in seen] == ["a", "b", "a"]
    headers = seen[2][1]
    assert headers[ATTEMPTS] == 1
    assert headers[ORIGIN_QUEUE] == spec.name
    assert "MinIO briefly down" in headers[LAST_REASON]
    datetime.fromisoformat(headers[FIRST_FAILURE])
    assert give_ups.calls == []


async def test_a_spent_budget_dead_letters_the_message_and_fails_its_run_once(
    vhost_url: str, amqp: aio_pika.abc.AbstractChannel, unique: str
) -> None:
    # Given a handler whose database stays unreachable, and a budget of one second
    broker, topology, spec, give_ups = _setup(vhost_url, unique, budget=1.0)
    attempts: list[dict[str, Any]] = []

    @broker.subscriber(topology.queue(spec), EVENTS)
    async def handle(body: dict[str, Any], msg: RabbitMessage) -> None:
        attempts.append(dict(msg.headers))
        raise DependencyUnavailable("CDDS_UCS__DSN", "connection refused")

    # When a message of run r1 arrives
    async def dead() -> None:
        letter = await _dead_letter(amqp, spec.name)
        attempts.append({"dead": letter})

    await _run(broker, topology, spec, [_request("r1")], dead)

    # Then it was retried with growing attempts from one first failure, then dead-lettered
    letter = attempts.pop()["dead"]
    counts = [h.get(ATTEMPTS, 0) for h in attempts]
    assert counts == list(range(len(counts))) and len(counts) >= 3, counts
    assert len({h[FIRST_FAILURE] for h in attempts[1:]}) == 1
    reason = str(letter.headers[REASON])
    assert reason.startswith("UCS database unreachable (CDDS_UCS__DSN) for "), reason
    assert json.loads(letter.body)["run_id"] == "r1"
    # And the run was failed exactly once, with that reason
    assert give_ups.calls == [("r1", reason)]


async def test_an_unexpected_error_is_retried_then_given_up_naming_it(
    vhost_url: str, amqp: aio_pika.abc.AbstractChannel, unique: str
) -> None:
    broker, topology, spec, give_ups = _setup(vhost_url, unique, budget=0.5)

    @broker.subscriber(topology.queue(spec), EVENTS)
    async def handle(body: dict[str, Any]) -> None:
        raise RuntimeError("a bug that never goes away")

    letters: list[aio_pika.abc.AbstractIncomingMessage] = []

    async def dead() -> None:
        letters.append(await _dead_letter(amqp, spec.name))

    await _run(broker, topology, spec, [_request("r2")], dead)

    reason = str(letters[0].headers[REASON])
    assert reason.startswith("still failing after"), reason
    assert "RuntimeError: a bug that never goes away" in reason
    assert give_ups.calls == [("r2", reason)]


@pytest.mark.parametrize(
    ("error", "fails_run"),
    [
        (PermanentError("certificate missing"), True),
        (ForgedMessage("no such run was created by the gateway"), False),
    ],
)
async def test_a_permanent_error_dead_letters_at_once(
    vhost_url: str,
    amqp: aio_pika.abc.AbstractChannel,
    unique: str,
    error: PermanentError,
    fails_run: bool,
) -> None:
    broker, topology, spec, give_ups = _setup(vhost_url, unique, budget=60)
    attempts = 0

    @broker.subscriber(topology.queue(spec), EVENTS)
    async def handle(body: dict[str, Any]) -> None:
        nonlocal attempts
        attempts += 1
        raise error

    letters: list[aio_pika.abc.AbstractIncomingMessage] = []

    async def dead() -> None:
        letters.append(await _dead_letter(amqp, spec.name))

    await _run(broker, topology, spec, [_request("r3")], dead)

    assert attempts == 1
    assert letters[0].headers[REASON] == str(error)
    assert give_ups.calls == ([("r3", str(error))] if fails_run else [])


async def test_a_dependency_down_pauses_consumption_until_its_probe_answers(
    vhost_url: str, amqp: aio_pika.abc.AbstractChannel, unique: str
) -> None:
    # Given a worker whose UCS database is down (its probe fails too)
    outage = True

    async def probe() -> None:
        if outage:
            raise DependencyUnavailable("CDDS_UCS__DSN", "connection refused")

    gate = DependencyGate({"ucs": probe}, probe_interval=0.1)
    broker, topology, spec, give_ups = _setup(vhost_url, unique, budget=60, gate=gate)
    handled: list[str] = []
    done: list[str] = []

    @broker.subscriber(topology.queue(spec), EVENTS)
    async def handle(body: dict[str, Any]) -> None:
        handled.append(body["run_id"])
        if outage:
            raise DependencyUnavailable("CDDS_UCS__DSN", "connection refused")
        done.append(body["run_id"])

    async def story() -> None:
        nonlocal outage
        # When the first message fails, the gate closes and names the dependency
        await _until(lambda: "ucs" in gate.down, "the gate did not close")
        assert "CDDS_UCS__DSN" in gate.down["ucs"]
        # And a second message, like the first one's retry, is held, not handled or burned
        await broker.publish(_request("p2"), exchange=EVENTS, routing_key=spec.routing_key)
        await _until(lambda: gate.held == 2, "messages were not held")
        assert handled == ["p1"]
        # Then once the dependency answers, both are handled
        outage = False
        await _until(lambda: sorted(done) == ["p1", "p2"], "consumption did not resume")
        assert gate.is_open

    await _run(broker, topology, spec, [_request("p1")], story)
    assert give_ups.calls == []
    assert await _dead_count(amqp, spec.name) == 0


async def test_a_message_held_past_its_budget_fails_its_run_rather_than_waiting(
    vhost_url: str, amqp: aio_pika.abc.AbstractChannel, unique: str
) -> None:
    # Given a dependency that never comes back, and a budget of one second
    async def probe() -> None:
        raise DependencyUnavailable("CDDS_UCS__DSN", "connection refused")

    gate = DependencyGate({"ucs": probe}, probe_interval=0.1)
    broker, topology, spec, give_ups = _setup(vhost_url, unique, budget=1.0, gate=gate)

    @broker.subscriber(topology.queue(spec), EVENTS)
    async def handle(body: dict[str, Any]) -> None:
        raise DependencyUnavailable("CDDS_UCS__DSN", "connection refused")

    letters: list[aio_pika.abc.AbstractIncomingMessage] = []

    async def dead() -> None:
        letters.append(await _dead_letter(amqp, spec.name))

    await _run(broker, topology, spec, [_request("h1")], dead)

    # Then the paused worker still gave the message up once its budget was spent
    reason = str(letters[0].headers[REASON])
    assert "CDDS_UCS__DSN" in reason
    assert give_ups.calls == [("h1", reason)]
    await gate.release()
