"""The faults: a server of the private stack killed for a while and started again (an outage),
a service killed with SIGKILL and restarted, and a supervisor that restarts any service found
dead meanwhile, as systemd or Kubernetes would."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from dataclasses import dataclass, field

from cdds_tools.devstack import Stack
from cdds_tools.devstack.stack import SERVICES, StackError

__all__ = ["Supervisor", "kill", "outage"]


def kill(stack: Stack, name: str) -> None:
    """SIGKILL the whole process group (a server's ``runuser`` wrapper and the server itself):
    no shutdown, nothing flushed, as a crash or an OOM kill."""
    proc = stack.processes[name]
    pid = proc.pid()
    if pid is None:
        raise RuntimeError(f"{name} is not running")
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while proc.pid() == pid:  # gone (or already replaced by the supervisor)
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} still alive 30 s after SIGKILL")
        time.sleep(0.1)


async def outage(stack: Stack, name: str, seconds: float) -> None:
    """``name`` down for ``seconds`` (killed, then started again once that time has passed)."""
    await asyncio.to_thread(kill, stack, name)
    await asyncio.sleep(seconds)  # the outage itself, not a wait for a state
    await asyncio.to_thread(stack.up, (name,), lambda _: None)


@dataclass
class Supervisor:
    """Restarts services that died (e.g. one that gave up on a dependency at start-up)."""

    stack: Stack
    restarts: list[str] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    async def _watch(self) -> None:
        while True:
            for name in SERVICES:
                if self.stack.processes[name].pid() is None:
                    try:
                        await asyncio.to_thread(self.stack.up, (name,), lambda _: None)
                        self.restarts.append(name)
                    except StackError:
                        pass  # its dependency is still down: try again on the next round
            await asyncio.sleep(2)

    def __enter__(self) -> Supervisor:
        self._task = asyncio.get_running_loop().create_task(self._watch())
        return self

    def __exit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()
