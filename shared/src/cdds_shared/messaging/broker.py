"""The broker every service uses: confirms on, unroutable publishes raise, bounded prefetch,
and one middleware that maps the error taxonomy to ack / nack / reject (STYLE habit 6)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from faststream import BaseMiddleware
from faststream.exceptions import HandlerException, NackMessage, RejectMessage
from faststream.message import StreamMessage
from faststream.rabbit import Channel, RabbitBroker
from pydantic import ValidationError

from cdds_shared.errors import PermanentError
from cdds_shared.logging import bind_correlation, get_logger
from cdds_shared.messaging.messages import Message
from cdds_shared.messaging.topology import EVENTS
from cdds_shared.settings import RabbitSettings

__all__ = ["ErrorPolicyMiddleware", "make_broker", "publish"]

log = get_logger("cdds.messaging")


def _delivery_count(msg: StreamMessage[Any]) -> int:
    value = (msg.headers or {}).get("x-delivery-count", 0)
    return int(value) if isinstance(value, int | str) and str(value).isdigit() else 0


class ErrorPolicyMiddleware(BaseMiddleware):
    """PermanentError or a malformed body → reject (dead letter); anything else → nack after a
    back-off so a dependency outage is not burned through in a second. The quorum queue's
    ``x-delivery-limit`` bounds the retries, then dead-letters the message."""

    max_backoff_seconds = 30.0

    async def consume_scope(self, call_next: Any, msg: StreamMessage[Any]) -> Any:
        bind_correlation(msg.correlation_id, message_id=msg.message_id)
        try:
            return await call_next(msg)
        except HandlerException:
            raise
        except (PermanentError, ValidationError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            log.warning("message dead-lettered", reason=_reason(exc), error=type(exc).__name__)
            raise RejectMessage() from exc
        except Exception as exc:
            count = _delivery_count(msg)
            delay = min(self.max_backoff_seconds, 0.5 * 2**count)
            log.error(
                "message failed; will retry",
                reason=_reason(exc),
                attempt=count + 1,
                retry_in_seconds=delay,
                error=type(exc).__name__,
            )
            await asyncio.sleep(delay)
            raise NackMessage() from exc


def _reason(exc: BaseException) -> str:
    if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError):
        return f"malformed body: {exc}"[:500]
    if isinstance(exc, ValidationError):
        return f"invalid message: {exc.error_count()} error(s), first: {exc.errors()[0]['msg']}"
    return str(exc)[:500]


def make_broker(settings: RabbitSettings, **kwargs: Any) -> RabbitBroker:
    return RabbitBroker(
        settings.url.get_secret_value(),
        default_channel=Channel(
            prefetch_count=settings.prefetch, publisher_confirms=True, on_return_raises=True
        ),
        middlewares=(ErrorPolicyMiddleware,),
        graceful_timeout=30.0,
        **kwargs,
    )


async def publish(broker: RabbitBroker, message: Message, *, mandatory: bool | None = None) -> None:
    """Publish to ``cdds.events``; returns once RabbitMQ confirmed it. Work items (``WORK_ITEM``,
    or ``mandatory=True``) raise when no queue takes them; a notification nobody subscribed to
    is dropped by the broker, which is what a notification may be."""
    if mandatory is None:
        mandatory = message.WORK_ITEM
    await broker.publish(
        message,
        exchange=EVENTS,
        routing_key=message.ROUTING_KEY,
        mandatory=mandatory,
        persist=True,
        correlation_id=message.correlation_id,
        message_id=str(message.message_id),
    )
