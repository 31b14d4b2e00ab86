"""A worker's health endpoints (docs/operations.md, "Probes").

``/healthz`` (liveness) says only that the process is not wedged: its event loop answers, so it
touches no dependency — a RabbitMQ or database outage must not make Kubernetes restart every
replica in a loop (the dependency gate waits for the outage instead). ``/readyz`` (readiness)
says the worker can do its work now: its start-up finished (topology declared, background loops
started), its own broker connection is up, every dependency answers, none is marked down by the
dependency gate, and it is not shutting down.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from faststream.asgi import AsgiResponse, get
from faststream.asgi.types import ASGIApp
from faststream.rabbit import RabbitBroker

from cdds_shared.messaging import DependencyGate
from cdds_shared.runtime import SETTING_OF, Check, run_checks

__all__ = ["Phase", "health_routes"]


@dataclass
class Phase:
    """Where the worker is in its life; the app's hooks move it (``worker.py``)."""

    started: bool = False
    stopping: bool = False

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopping = True


def health_routes(
    broker: RabbitBroker, checks: Mapping[str, Check], gate: DependencyGate, phase: Phase
) -> list[tuple[str, ASGIApp]]:
    @get(include_in_schema=False)
    async def healthz(scope: object) -> AsgiResponse:
        # Answering at all is the proof: a blocked event loop does not answer within the
        # probe's timeout. Nothing here waits on a dependency.
        return _json({"status": "ok"}, 200)

    @get(include_in_schema=False)
    async def readyz(scope: object) -> AsgiResponse:
        if phase.stopping or gate.closing:
            return _json({"status": "shutting down", "checks": {}}, 503)
        if not phase.started:
            return _json({"status": "starting", "checks": {}}, 503)
        results = await run_checks(checks, timeout=5.0)
        # The worker's own connection, not just "RabbitMQ answers a new one": a consumer whose
        # connection is still being re-established takes no work.
        if not await broker.ping(timeout=2.0):
            results["broker"] = f"{SETTING_OF['rabbitmq']}: consumer connection down"
        # A dependency the worker found down stays "not ready" until its probe reopened the
        # gate, so readiness and the pause agree.
        results.update({name: f"paused: {reason}" for name, reason in gate.down.items()})
        ready = all(r == "ok" for r in results.values())
        return _json(
            {"status": "ready" if ready else "not ready", "checks": results}, 200 if ready else 503
        )

    return [("/healthz", healthz), ("/readyz", readyz)]


def _json(body: dict[str, object], status: int) -> AsgiResponse:
    return AsgiResponse(
        json.dumps(body).encode(), status, headers={"content-type": "application/json"}
    )
