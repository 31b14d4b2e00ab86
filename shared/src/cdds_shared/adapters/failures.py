"""The one mapping of client-library exceptions that escaped an adapter to the dependency they
mean, so a message's fate (``messaging/fate.py``) can name the setting to check.

The adapters already turn most client errors into ``DependencyUnavailable`` where they happen;
this catches what escapes them (an error raised mid-stream, a broker channel closed under a
publish). Reasons are one short line: exception type and first line of its text, no DSN.
"""

from __future__ import annotations

import aio_pika.exceptions
import aiormq.exceptions
import psycopg
import pymongo.errors
import urllib3.exceptions
from minio.error import ServerError

from cdds_shared.errors import DependencyUnavailable

__all__ = ["dependency_failure"]

# (exception types, setting): the first match names the dependency.
_MAPPING: tuple[tuple[tuple[type[BaseException], ...], str], ...] = (
    ((psycopg.OperationalError, psycopg.InterfaceError), "CDDS_UCS__DSN"),
    ((pymongo.errors.ConnectionFailure,), "CDDS_MONGO__URL"),
    ((urllib3.exceptions.HTTPError, ServerError), "CDDS_MINIO__ENDPOINT"),
    (
        (
            aio_pika.exceptions.AMQPConnectionError,
            aio_pika.exceptions.ChannelInvalidStateError,
            aiormq.exceptions.ConnectionClosed,
            aiormq.exceptions.ChannelClosed,
        ),
        "CDDS_RABBIT__URL",
    ),
)


def dependency_failure(exc: BaseException) -> DependencyUnavailable | None:
    """``exc`` as the dependency it reports unavailable, or ``None`` when it names none (a bug,
    or an error with no known client behind it)."""
    if isinstance(exc, DependencyUnavailable):
        return exc
    for types, setting in _MAPPING:
        if isinstance(exc, types):
            return DependencyUnavailable(setting, _one_line(exc))
    return None


def _one_line(exc: BaseException) -> str:
    text = (str(exc) or "").strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}"[:300] if first else type(exc).__name__
