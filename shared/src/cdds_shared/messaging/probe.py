"""Reachability checks of RabbitMQ that name the setting to fix when they fail."""

from __future__ import annotations

import aio_pika
from aio_pika.exceptions import AMQPConnectionError, ProbableAuthenticationError

from cdds_shared.errors import DependencyUnavailable

__all__ = ["ping_rabbit"]


async def ping_rabbit(url: str, timeout: float = 5.0) -> None:
    try:
        connection = await aio_pika.connect(url, timeout=timeout)
    except ProbableAuthenticationError:
        raise DependencyUnavailable(
            "CDDS_RABBIT__URL", "RabbitMQ refused the user name or password"
        ) from None
    except (AMQPConnectionError, OSError, TimeoutError) as exc:
        host = url.rsplit("@", 1)[-1].rstrip("/")
        raise DependencyUnavailable(
            "CDDS_RABBIT__URL", f"cannot reach RabbitMQ at {host} ({_short(exc)})"
        ) from None
    await connection.close()


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]
