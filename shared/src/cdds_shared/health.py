"""A worker's health endpoints: ``/healthz`` (alive and connected to the broker) and ``/readyz``
(every dependency answers and none is marked down by the dependency gate)."""

from __future__ import annotations

import json
from collections.abc import Mapping

from faststream.asgi import AsgiResponse, get
from faststream.asgi.types import ASGIApp
from faststream.rabbit import RabbitBroker

from cdds_shared.messaging import DependencyGate
from cdds_shared.runtime import Check, run_checks

__all__ = ["health_routes"]


def health_routes(
    broker: RabbitBroker, checks: Mapping[str, Check], gate: DependencyGate
) -> list[tuple[str, ASGIApp]]:
    @get(include_in_schema=False)
    async def healthz(scope: object) -> AsgiResponse:
        alive = await broker.ping(timeout=2.0)
        return _json({"status": "ok" if alive else "broker connection lost"}, 200 if alive else 503)

    @get(include_in_schema=False)
    async def readyz(scope: object) -> AsgiResponse:
        results = await run_checks(checks, timeout=5.0)
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
