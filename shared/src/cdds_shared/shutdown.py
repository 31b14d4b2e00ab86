"""A worker's graceful shutdown (docs/operations.md, "Shutdown").

On SIGTERM a worker takes no new message (one delivered from now on is not run, and goes back
to its queue when the channel closes), gives the messages in flight ``DRAIN_SECONDS`` to
finish, and returns those still running: their handlers are cancelled and the messages nacked
with requeue, so another replica picks them up — a partition resumes after its last checkpoint
(docs/pipeline.md §4). Only then does FastStream cancel the consumers and close the channel,
and the worker's clients close.

``InFlight`` is the broker middleware that knows which handlers run; ``WorkerRuntime``
(``worker.py``) installs it outermost and calls ``drain`` first thing at shutdown.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING, Any

from faststream import BaseMiddleware
from faststream.exceptions import NackMessage
from faststream.message import StreamMessage

from cdds_shared.logging import get_logger

if TYPE_CHECKING:
    from faststream._internal.context.repository import ContextRepo
    from faststream.rabbit import RabbitBroker

__all__ = ["DRAIN_SECONDS", "TERMINATION_GRACE_SECONDS", "InFlight", "exit_zero_after_drain"]

# What a message in flight is given to finish after SIGTERM. Kubernetes' grace period must
# cover it plus the pre-stop pause, closing the clients and a margin (deploy/k8s uses 45 s).
DRAIN_SECONDS = 30.0
TERMINATION_GRACE_SECONDS = 45

log = get_logger("cdds.shutdown")


def exit_zero_after_drain() -> None:
    """End the process with status 0 after a graceful stop. uvicorn (under the gateway and
    under ``faststream run``) drains, then restores the SIGTERM handler it found and re-raises
    the signal; the handler found is this one, so a drained stop is a success, not a death by
    signal. Only the main thread can set a signal handler; elsewhere nothing changes."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _exit_zero)


def _exit_zero(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


class InFlight:
    """The broker middleware factory that tracks the handlers running now."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()
        self.stopping = False
        self._returning: set[asyncio.Task[Any]] = set()

    def __call__(self, msg: Any, /, *, context: ContextRepo) -> _Tracked:
        return _Tracked(msg, context=context, inflight=self)

    async def drain(self, broker: RabbitBroker, timeout: float = DRAIN_SECONDS) -> None:
        """Take no new message; wait up to ``timeout`` s for those in flight, then return the
        rest to their queues (cancelled, nacked with requeue)."""
        self.stopping = True
        # A subscriber that is not running leaves what RabbitMQ still delivers (at most the
        # prefetch) unacked and unrun; it goes back to the queue when the channel closes. A
        # nack here instead would have RabbitMQ redeliver it at once to this same consumer,
        # in a loop that spends the message's delivery limit.
        for subscriber in broker.subscribers:
            subscriber.running = False
        running = set(self.tasks)
        if running:
            log.info("shutdown: finishing messages in flight", messages=len(running))
            _, late = await asyncio.wait(running, timeout=timeout)
            if late:
                log.warning("shutdown: returning unfinished messages", messages=len(late))
                self._returning |= late
                for task in late:
                    task.cancel()
                await asyncio.wait(late, timeout=5.0)
        log.info("shutdown: no message in flight")


class _Tracked(BaseMiddleware):
    def __init__(self, msg: Any, /, *, context: ContextRepo, inflight: InFlight) -> None:
        super().__init__(msg, context=context)
        self._inflight = inflight

    async def consume_scope(self, call_next: Any, msg: StreamMessage[Any]) -> Any:
        inflight = self._inflight
        if inflight.stopping:  # passed the subscriber's check just before drain began
            raise NackMessage(requeue=True)
        task = asyncio.current_task()
        assert task is not None
        inflight.tasks.add(task)
        try:
            return await call_next(msg)
        except asyncio.CancelledError:
            if task not in inflight._returning:
                raise
            # Cancelled by ``drain``: the message goes back to its queue now, while the
            # channel is still open, rather than when the channel closes.
            task.uncancel()
            raise NackMessage(requeue=True) from None
        finally:
            inflight.tasks.discard(task)
