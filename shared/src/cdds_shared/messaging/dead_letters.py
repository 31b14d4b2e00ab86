"""Dead letters of a work queue, for the operator (``cdds-admin dead-letters list|replay``).

``<queue>.dead`` holds what the fate policy gave up (``x-cdds-reason``) and what RabbitMQ
dead-lettered itself (a malformed body rejected, a crash loop past ``x-delivery-limit``: the
reason is RabbitMQ's ``x-first-death-reason``). Listing shows ids, never body contents; the
messages stay where they are. Replaying moves each back to its work queue with fresh retry
headers: published with a confirm, and only then acked from the dead queue.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from cdds_shared.errors import DependencyUnavailable, NotFoundError
from cdds_shared.messaging.fate import ATTEMPTS, DEAD_AT, REASON, ROUTING_KEY, retry_headers

__all__ = ["DeadLetter", "list_dead_letters", "replay_dead_letters", "work_queue_of"]

SETTING = "CDDS_RABBIT__URL"


@dataclass(frozen=True)
class DeadLetter:
    """What an operator sees of one dead letter (ids and the reason, no record contents)."""

    routing_key: str
    run_id: str | None
    correlation_id: str | None
    message_id: str | None
    reason: str
    dead_at: str | None
    attempts: int

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def work_queue_of(queue: str) -> str:
    """``cdds.x.y`` or ``cdds.x.y.dead`` → ``cdds.x.y``."""
    return queue.removesuffix(".dead")


def _describe(message: AbstractIncomingMessage) -> DeadLetter:
    headers: dict[str, Any] = dict(message.headers or {})
    deaths = headers.get("x-death")
    # RabbitMQ keeps the most recent death first; the last entry is the first death.
    last: Any = deaths[-1] if isinstance(deaths, list) and deaths else {}
    first: dict[str, Any] = last if isinstance(last, dict) else {}
    keys = first.get("routing-keys") or []
    routing_key = headers.get(ROUTING_KEY) or (keys[0] if keys else message.routing_key) or ""
    died = headers.get(DEAD_AT) or first.get("time")
    reason = headers.get(REASON) or headers.get("x-first-death-reason") or "unknown"
    attempts = headers.get(ATTEMPTS)
    return DeadLetter(
        routing_key=str(routing_key),
        run_id=_run_id(message.body),
        correlation_id=message.correlation_id,
        message_id=message.message_id,
        reason=str(reason),
        dead_at=died.isoformat() if isinstance(died, datetime) else (str(died) if died else None),
        attempts=attempts if isinstance(attempts, int) else int(first.get("count", 0) or 0),
    )


def _run_id(body: bytes) -> str | None:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    run_id = data.get("run_id") if isinstance(data, dict) else None
    return run_id if isinstance(run_id, str) else None


async def _open(url: str) -> aio_pika.abc.AbstractRobustConnection:
    try:
        return await aio_pika.connect_robust(url, timeout=10)
    except (OSError, aio_pika.exceptions.AMQPConnectionError) as exc:
        raise DependencyUnavailable(SETTING, f"cannot reach RabbitMQ: {exc}") from None


async def _dead_queue(
    channel: AbstractChannel, queue: str
) -> tuple[aio_pika.abc.AbstractQueue, int]:
    name = f"{work_queue_of(queue)}.dead"
    try:
        dead = await channel.declare_queue(name, passive=True)
    except aio_pika.exceptions.ChannelClosed:
        raise NotFoundError(f"no queue {name!r} on this virtual host") from None
    return dead, int(dead.declaration_result.message_count or 0)


async def list_dead_letters(url: str, queue: str) -> tuple[int, list[DeadLetter]]:
    """``(count, letters)`` of ``queue``'s dead letters; they stay in the queue (each is taken
    unacknowledged and returned when the channel closes)."""
    connection = await _open(url)
    async with connection:
        channel = await connection.channel()
        dead, count = await _dead_queue(channel, queue)
        letters = []
        for _ in range(count):
            message = await dead.get(no_ack=False, fail=False)
            if message is None:
                break
            letters.append(_describe(message))
        # Closing the channel returns every message taken above, unacknowledged.
    return count, letters


async def replay_dead_letters(url: str, queue: str, limit: int | None = None) -> list[DeadLetter]:
    """Move up to ``limit`` dead letters (all there were at the start, by default) back to the
    work queue with fresh retry headers; each is acked from the dead queue only after RabbitMQ
    confirmed its republish."""
    work = work_queue_of(queue)
    connection = await _open(url)
    replayed: list[DeadLetter] = []
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        dead, count = await _dead_queue(channel, queue)
        await channel.declare_queue(work, passive=True)
        for _ in range(count if limit is None else min(limit, count)):
            message = await dead.get(no_ack=False, fail=False)
            if message is None:
                break
            copy = aio_pika.Message(
                message.body,
                headers=retry_headers(dict(message.headers or {})),
                content_type=message.content_type,
                content_encoding=message.content_encoding,
                correlation_id=message.correlation_id,
                message_id=message.message_id,
                type=message.type,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )
            try:
                await channel.default_exchange.publish(copy, routing_key=work, mandatory=True)
            except Exception:
                await message.nack(requeue=True)
                raise
            await message.ack()
            replayed.append(_describe(message))
    return replayed
