"""Waiting for the state a test asserts: poll until it holds, within a bounded deadline, then
fail with the last value seen — never ``sleep`` and hope, never a wait that cannot fail.

A test waits for exactly what it asserts next (the audit event, the counter, the announcement),
not for an earlier step of the same effect. Deadlines are generous: the suite runs on a loaded
2-core machine, and a passing wait returns as soon as the state holds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["eventually", "eventually_sync"]

T = TypeVar("T")


def _failure(what: str, value: object, error: BaseException | None, timeout: float) -> str:
    seen = f"{value!r}" if error is None else f"{type(error).__name__}: {error}"
    return f"{what or 'the awaited state'}: still {seen} after {timeout:g}s"


async def eventually(
    probe: Callable[[], Awaitable[T]],
    until: Callable[[T], bool] = bool,
    *,
    timeout: float = 60,
    interval: float = 0.1,
    what: str = "",
    ignoring: tuple[type[Exception], ...] = (),
) -> T:
    """Await ``probe()`` until ``until(value)`` holds and return that value. After ``timeout``
    seconds raise ``AssertionError`` naming ``what`` and the last value (or the last error of
    a type in ``ignoring``, which count as "not yet", e.g. a document not created yet)."""
    deadline = time.monotonic() + timeout
    while True:
        value: T | None = None
        error: Exception | None = None
        try:
            value = await probe()
        except ignoring as exc:
            error = exc
        else:
            if until(value):
                return value
        if time.monotonic() > deadline:
            raise AssertionError(_failure(what, value, error, timeout))
        await asyncio.sleep(interval)


def eventually_sync(
    probe: Callable[[], T],
    until: Callable[[T], bool] = bool,
    *,
    timeout: float = 60,
    interval: float = 0.1,
    what: str = "",
    ignoring: tuple[type[Exception], ...] = (),
) -> T:
    """``eventually`` for synchronous probes (processes, files, HTTP with a blocking client)."""
    deadline = time.monotonic() + timeout
    while True:
        value: T | None = None
        error: Exception | None = None
        try:
            value = probe()
        except ignoring as exc:
            error = exc
        else:
            if until(value):
                return value
        if time.monotonic() > deadline:
            raise AssertionError(_failure(what, value, error, timeout))
        time.sleep(interval)
