"""A queue's depth as RabbitMQ knows it now, read over AMQP (a passive ``queue.declare``).

The management API's counts are sampled (``collect_statistics_interval``, 5 s by default), so
a test never takes them as the truth. A passive declare answers from the queue itself: the
messages *ready* and the consumers, both current. Messages a consumer holds unacknowledged are
not in that count, so a count is only final once the queue has no consumer: a quorum queue
returns a consumer's unacknowledged messages in the same step that removes the consumer.
"""

from __future__ import annotations

import aio_pika

from tests.waiting import eventually

__all__ = ["depth", "settled_depth"]


async def depth(channel: aio_pika.abc.AbstractChannel, name: str) -> tuple[int, int]:
    """``(ready messages, consumers)`` of queue ``name`` now."""
    queue = await channel.declare_queue(name, passive=True)
    result = queue.declaration_result
    return int(result.message_count or 0), int(result.consumer_count or 0)


async def settled_depth(
    channel: aio_pika.abc.AbstractChannel, name: str, *, timeout: float = 60
) -> int:
    """The ready count of ``name`` once no consumer is left on it (bounded): then nothing is
    held unacknowledged, and the count is final as long as nothing publishes to the queue."""
    ready, _ = await eventually(
        lambda: depth(channel, name),
        lambda seen: seen[1] == 0,
        timeout=timeout,
        what=f"{name}: (ready, consumers) with no consumer left",
    )
    return ready
