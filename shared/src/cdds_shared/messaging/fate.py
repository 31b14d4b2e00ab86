"""One place decides every consumed message's fate (docs/pipeline.md §11); handlers only raise.

| the handler…                                   | fate                                          |
|------------------------------------------------|-----------------------------------------------|
| returns                                        | ack                                           |
| body not JSON / not the message type           | reject → ``<queue>.dead`` at once (DLX)       |
| ``PermanentError``                             | its run fails at once (unless ``fails_run`` is |
|                                                | false), then ``<queue>.dead`` with the reason |
| ``TransientError``, a dependency's client      | republished (confirmed) into the retry queue  |
| error, any other exception                     | of the next delay tier, then acked; after     |
|                                                | ``CDDS_RETRY__BUDGET_SECONDS`` from the first |
|                                                | failure: as a permanent error, the reason     |
|                                                | naming the dependency and its setting         |

Retry state travels in headers (``x-cdds-attempts``, ``x-cdds-first-failure``,
``x-cdds-last-reason``, ``x-cdds-origin-queue``, ``x-cdds-routing-key``); a dead letter also
carries ``x-cdds-reason`` and ``x-cdds-dead-at``. A ``DependencyUnavailable`` closes the
worker's ``DependencyGate``: no new message is handled until its probe answers again. The
consumer never sleeps on a failure.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from faststream import BaseMiddleware
from faststream.exceptions import AckMessage, HandlerException, NackMessage, RejectMessage
from faststream.message import StreamMessage
from pydantic import ValidationError

from cdds_shared.adapters.failures import dependency_failure
from cdds_shared.errors import PermanentError
from cdds_shared.logging import bind_correlation, get_logger
from cdds_shared.messaging.gate import DependencyGate
from cdds_shared.messaging.topology import DEAD_LETTERS, Topology
from cdds_shared.settings import RetrySettings

if TYPE_CHECKING:
    from faststream._internal.context.repository import ContextRepo
    from faststream.rabbit import RabbitBroker

__all__ = [
    "ATTEMPTS",
    "DEAD_AT",
    "FIRST_FAILURE",
    "LAST_REASON",
    "ORIGIN_QUEUE",
    "REASON",
    "ROUTING_KEY",
    "FatePolicy",
    "GiveUp",
    "give_up_reason",
    "retry_headers",
]

GiveUp = Callable[[str, str], Awaitable[None]]
"""``on_give_up(run_id, reason)``: fail the run a message belongs to (built per worker)."""

ATTEMPTS = "x-cdds-attempts"
FIRST_FAILURE = "x-cdds-first-failure"
LAST_REASON = "x-cdds-last-reason"
ORIGIN_QUEUE = "x-cdds-origin-queue"
REASON = "x-cdds-reason"
ROUTING_KEY = "x-cdds-routing-key"  # the routing key it was first published with
DEAD_AT = "x-cdds-dead-at"
# RabbitMQ's own bookkeeping of earlier deaths and deliveries; a republished copy starts clean.
_BROKER_HEADERS = ("x-death", "x-delivery-count")
_BROKER_PREFIXES = ("x-first-death-", "x-last-death-")

# Human names of the dependencies, by the setting a DependencyUnavailable names.
DEPENDENCY_NAMES = {
    "CDDS_UCS__DSN": "UCS database",
    "CDDS_MONGO__URL": "MongoDB",
    "CDDS_MINIO__ENDPOINT": "MinIO",
    "CDDS_RABBIT__URL": "RabbitMQ",
}
MALFORMED = (ValidationError, json.JSONDecodeError, UnicodeDecodeError)

log = get_logger("cdds.messaging")


def _now() -> datetime:
    return datetime.now(UTC)


def retry_headers(headers: dict[str, Any] | None) -> dict[str, Any]:
    """``headers`` without RabbitMQ's death bookkeeping or CDDS retry state: a fresh start."""
    return {
        k: v
        for k, v in (headers or {}).items()
        if k not in _BROKER_HEADERS
        and not k.startswith(_BROKER_PREFIXES)
        and not k.startswith("x-cdds-")
    }


def _duration(seconds: float) -> str:
    if seconds >= 90:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def give_up_reason(exc: BaseException, elapsed: float) -> str:
    """Why a message was given up after ``elapsed`` seconds of retries, naming the dependency
    and its setting when the failure had one."""
    dependency = dependency_failure(exc)
    if dependency is not None:
        name = DEPENDENCY_NAMES.get(dependency.setting)
        if name is not None:
            return (
                f"{name} unreachable ({dependency.setting}) for {_duration(elapsed)}: "
                f"{dependency.reason}"
            )[:500]
        return f"{dependency} (for {_duration(elapsed)})"[:500]
    return f"still failing after {_duration(elapsed)} of retries: {_describe(exc)}"[:500]


def _describe(exc: BaseException) -> str:
    if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError):
        return f"malformed body: {exc}"[:500]
    if isinstance(exc, ValidationError):
        return f"invalid message: {exc.error_count()} error(s), first: {exc.errors()[0]['msg']}"
    dependency = dependency_failure(exc)
    if dependency is not None:
        return str(dependency)[:500]
    text = str(exc)
    return (text if isinstance(exc, PermanentError) and text else f"{type(exc).__name__}: {text}")[
        :500
    ]


@dataclass(frozen=True)
class _RetryState:
    attempts: int
    first_failure: datetime

    @classmethod
    def of(cls, headers: dict[str, Any], fallback: datetime) -> _RetryState:
        attempts = headers.get(ATTEMPTS, 0)
        first = fallback
        raw = headers.get(FIRST_FAILURE)
        if isinstance(raw, str):
            with contextlib.suppress(ValueError):
                first = min(datetime.fromisoformat(raw), fallback)
        return cls(attempts if isinstance(attempts, int) else 0, first)


class FatePolicy:
    """The broker middleware factory (``make_broker(..., fate=...)``). ``on_give_up`` and
    ``gate`` are set by the worker's composition root (``worker.py``); without them nothing
    fails a run and nothing pauses."""

    def __init__(
        self,
        retry: RetrySettings | None = None,
        topology: Topology | None = None,
        *,
        on_give_up: GiveUp | None = None,
        gate: DependencyGate | None = None,
    ) -> None:
        self.retry = retry or RetrySettings()
        self.topology = topology or Topology(retry_tiers=self.retry.tiers_seconds)
        self.on_give_up = on_give_up
        self.gate = gate
        self.broker: RabbitBroker | None = None

    def __call__(self, msg: Any, /, *, context: ContextRepo) -> _FateMiddleware:
        return _FateMiddleware(msg, context=context, policy=self)

    # The decisions --------------------------------------------------------------------------

    async def hold(self, msg: StreamMessage[Any]) -> datetime | None:
        """While the gate is closed: wait for it, at most until the message's budget ends.
        Returns when the hold began (the budget counts from then at the latest), or ``None``."""
        gate = self.gate
        if gate is None or gate.is_open:
            return None
        since = _now()
        state = _RetryState.of(msg.headers or {}, since)
        left = self.retry.budget_seconds - (since - state.first_failure).total_seconds()
        await gate.wait_open(left)
        if gate.closing:
            raise NackMessage(requeue=True)  # shutting down: returned to the queue, not run
        return since

    async def decide(
        self, msg: StreamMessage[Any], queue: str, exc: Exception, held_since: datetime | None
    ) -> None:
        """Raise what settles ``msg`` after its handler raised ``exc``."""
        if isinstance(exc, MALFORMED):
            log.warning("message dead-lettered", reason=_describe(exc), error=type(exc).__name__)
            raise RejectMessage() from exc
        now = _now()
        state = _RetryState.of(msg.headers or {}, held_since or now)
        elapsed = (now - state.first_failure).total_seconds()
        if isinstance(exc, PermanentError):
            await self._give_up(msg, queue, state, _describe(exc), fails_run=exc.fails_run)
            raise AckMessage() from exc
        dependency = dependency_failure(exc)
        if dependency is not None and self.gate is not None:
            self.gate.mark_down(dependency.setting, str(dependency))
        if elapsed >= self.retry.budget_seconds:
            await self._give_up(msg, queue, state, give_up_reason(exc, elapsed), fails_run=True)
            raise AckMessage() from exc
        await self._retry(msg, queue, state, _describe(exc), elapsed)
        raise AckMessage() from exc

    async def _retry(
        self, msg: StreamMessage[Any], queue: str, state: _RetryState, reason: str, elapsed: float
    ) -> None:
        tiers = self.retry.tiers_seconds
        delay = tiers[min(state.attempts, len(tiers) - 1)]
        target = self.topology.retry_queue_name(queue, delay)
        headers = {
            **retry_headers(msg.headers),
            ATTEMPTS: state.attempts + 1,
            FIRST_FAILURE: state.first_failure.isoformat(),
            LAST_REASON: reason[:500],
            ORIGIN_QUEUE: queue,
            ROUTING_KEY: _routing_key(msg),
        }
        log.error(
            "message failed; retried later",
            reason=reason,
            attempt=state.attempts + 1,
            retry_in_seconds=delay,
            failing_for_seconds=round(elapsed, 1),
        )
        await self._republish(msg, "", target, headers)

    async def _give_up(
        self,
        msg: StreamMessage[Any],
        queue: str,
        state: _RetryState,
        reason: str,
        *,
        fails_run: bool,
    ) -> None:
        run_id = _run_id(msg)
        if fails_run and run_id is not None and self.on_give_up is not None:
            try:
                await self.on_give_up(run_id, reason)
            except Exception as exc:
                # The run could not be failed (its store is down too): keep the message
                # circling on the longest delay; each return runs the handler again first.
                log.error("could not fail the run; retried later", run_id=run_id, error=str(exc))
                elapsed = (_now() - state.first_failure).total_seconds()
                last_tier = _RetryState(len(self.retry.tiers_seconds), state.first_failure)
                await self._retry(msg, queue, last_tier, reason, elapsed)
                return
        headers = {
            **retry_headers(msg.headers),
            ATTEMPTS: state.attempts + 1,
            FIRST_FAILURE: state.first_failure.isoformat(),
            ORIGIN_QUEUE: queue,
            ROUTING_KEY: _routing_key(msg),
            REASON: reason[:500],
            DEAD_AT: _now().isoformat(),
        }
        log.warning("message dead-lettered", reason=reason, run_id=run_id)
        await self._republish(msg, DEAD_LETTERS.name, queue, headers)

    async def _republish(
        self, msg: StreamMessage[Any], exchange: str, routing_key: str, headers: dict[str, Any]
    ) -> None:
        """Publish a copy of ``msg`` and wait for RabbitMQ's confirm; only then may the original
        be acked. If RabbitMQ does not take it, the original is returned to its queue instead
        (``x-delivery-limit`` bounds how often)."""
        if self.broker is None:
            raise NackMessage(requeue=True)
        raw = msg.raw_message
        try:
            await self.broker.publish(
                msg.body,
                exchange=exchange,
                routing_key=routing_key,
                mandatory=True,
                persist=True,
                headers=headers,
                content_type=msg.content_type,
                content_encoding=getattr(raw, "content_encoding", None),
                correlation_id=msg.correlation_id,
                message_id=msg.message_id,
                message_type=getattr(raw, "type", None),
            )
        except Exception as exc:
            log.error("could not republish the message; returned to its queue", error=str(exc))
            raise NackMessage(requeue=True) from exc


def _routing_key(msg: StreamMessage[Any]) -> str:
    kept = (msg.headers or {}).get(ROUTING_KEY)
    return str(kept) if kept else str(getattr(msg.raw_message, "routing_key", "") or "")


def _run_id(msg: StreamMessage[Any]) -> str | None:
    """The run a message belongs to: its body's ``run_id`` (every run message has one)."""
    try:
        body = json.loads(msg.body)
    except (ValueError, TypeError):
        return None
    run_id = body.get("run_id") if isinstance(body, dict) else None
    return run_id if isinstance(run_id, str) and run_id else None


class _FateMiddleware(BaseMiddleware):
    """Applies the policy to one message."""

    def __init__(self, msg: Any, /, *, context: ContextRepo, policy: FatePolicy) -> None:
        super().__init__(msg, context=context)
        self._policy = policy

    async def consume_scope(self, call_next: Any, msg: StreamMessage[Any]) -> Any:
        bind_correlation(msg.correlation_id, message_id=msg.message_id)
        held_since = await self._policy.hold(msg)
        try:
            return await call_next(msg)
        except HandlerException:
            raise
        except Exception as exc:
            await self._policy.decide(msg, self._queue(msg), exc, held_since)
            raise  # unreachable: decide always raises

    def _queue(self, msg: StreamMessage[Any]) -> str:
        subscriber = self.context.get_local("handler_")
        queue = getattr(getattr(subscriber, "queue", None), "name", None)
        if isinstance(queue, str) and queue:
            return queue
        return str((msg.headers or {}).get(ORIGIN_QUEUE) or msg.raw_message.routing_key)
