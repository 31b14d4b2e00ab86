"""A worker's dependency gate: while a dependency it needs is known down, the worker takes no
new work and ``/readyz`` names it; a probe reopens the gate once the dependency answers.

The fate policy (``fate.py``) closes the gate when a handler fails with ``DependencyUnavailable``
naming one of the worker's dependencies. A message delivered while the gate is closed is held
before its handler runs (at most the consumer's prefetch per queue, none of them burned: no
attempt is spent, no delivery counted), until the gate reopens or the message's retry budget
ends. The probe is the same check ``/readyz`` runs (``runtime.dependency_checks``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping

from cdds_shared.errors import CddsError
from cdds_shared.logging import get_logger
from cdds_shared.runtime import SETTING_OF, Check

__all__ = ["DependencyGate"]

log = get_logger("cdds.gate")


class DependencyGate:
    """Which of a worker's dependencies are down, and the pause that follows from it."""

    def __init__(
        self, checks: Mapping[str, Check], probe_interval: float = 2.0, timeout: float = 5.0
    ) -> None:
        self._checks = dict(checks)
        self._probe_interval = probe_interval
        self._timeout = timeout
        self._by_setting = {SETTING_OF[n]: n for n in self._checks if n in SETTING_OF}
        self.down: dict[str, str] = {}
        self._open = asyncio.Event()
        self._open.set()
        self._closing = False
        self._probe: asyncio.Task[None] | None = None
        self.held = 0  # messages waiting for the gate right now (tests, logs)

    @property
    def is_open(self) -> bool:
        return not self.down

    @property
    def closing(self) -> bool:
        return self._closing

    def mark_down(self, setting: str, reason: str) -> bool:
        """Close the gate for the dependency ``setting`` names; ``False`` if it is not one of
        this worker's (then nothing pauses: the message is only retried)."""
        name = self._by_setting.get(setting)
        if name is None or self._closing:
            return False
        if name not in self.down:
            log.warning("dependency down; consumption paused", dependency=name, reason=reason)
        self.down[name] = reason
        self._open.clear()
        if self._probe is None or self._probe.done():
            self._probe = asyncio.get_running_loop().create_task(self._probe_until_up())
        return True

    async def wait_open(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) for the gate to open; ``True`` if it is open."""
        if self.is_open:
            return True
        self.held += 1
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._open.wait(), max(0.0, timeout))
        finally:
            self.held -= 1
        return self.is_open

    async def _probe_until_up(self) -> None:
        while self.down and not self._closing:
            await asyncio.sleep(self._probe_interval)
            for name in list(self.down):
                try:
                    await asyncio.wait_for(self._checks[name](), self._timeout)
                except TimeoutError:
                    self.down[name] = f"{SETTING_OF.get(name, name)}: no answer within probe"
                except CddsError as exc:
                    self.down[name] = str(exc)
                except Exception as exc:  # a probe must not die of an unexpected error
                    self.down[name] = f"{type(exc).__name__}: {exc}"[:300]
                else:
                    del self.down[name]
                    log.info("dependency back; consumption resumes", dependency=name)
        if not self.down:
            self._open.set()

    async def release(self) -> None:
        """At shutdown: stop probing and let held messages go (they are returned, not run)."""
        self._closing = True
        self._open.set()
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
