"""The shape every FastStream worker shares: broker, topology, the fate of its messages, health
endpoints, the pause while a dependency is down (docs/pipeline.md §11)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.asgi.types import ASGIApp
from faststream.rabbit import RabbitBroker

from cdds_shared.logging import configure_logging, get_logger
from cdds_shared.messaging import (
    DependencyGate,
    FatePolicy,
    GiveUp,
    declare_topology,
    make_broker,
    topology_of,
)
from cdds_shared.runtime import (
    dependency_checks,
    run_checks,
    settings_or_exit,
    wait_for_dependencies,
)
from cdds_shared.settings import Settings

__all__ = ["WorkerHooks", "create_worker_app"]

Hook = Callable[[], Awaitable[None]]


@dataclass
class WorkerHooks:
    """What a worker's ``register`` adds to the app's life: ``on_startup`` runs before the broker
    starts consuming (connect clients), ``after_startup`` once it consumes (background loops),
    ``on_shutdown`` after consuming stopped and in-flight messages finished. ``on_give_up``
    fails the run a message belongs to when its fate is a dead letter (``messaging/fate.py``);
    without it (the janitor) nothing but the message is given up."""

    on_startup: list[Hook] = field(default_factory=list)
    after_startup: list[Hook] = field(default_factory=list)
    on_shutdown: list[Hook] = field(default_factory=list)
    on_give_up: GiveUp | None = None


Register = Callable[[RabbitBroker, Settings], WorkerHooks | None]


def create_worker_app(
    service: str,
    dependencies: tuple[str, ...],
    register: Register | None = None,
    settings: Settings | None = None,
    routes: Sequence[tuple[str, ASGIApp]] = (),
) -> AsgiFastStream:
    """Build a worker: waits for its dependencies (one clear line if they stay down), declares the
    topology, registers its subscribers, and serves ``/healthz`` (alive and connected to the
    broker) and ``/readyz`` (every dependency answers and none is marked down) on
    ``CDDS_WORKER__HOST/PORT``, plus the worker's own ``routes`` (e.g. the janitor's
    ``/metrics``)."""
    settings = settings_or_exit(service, settings)
    configure_logging(settings.log_level)
    log = get_logger(f"cdds.{service}")
    checks = dependency_checks(settings, ("rabbitmq", *dependencies))
    wait_for_dependencies(service, checks, settings.startup_timeout_seconds)

    topology = topology_of(settings)
    gate = DependencyGate(checks, probe_interval=settings.retry.probe_interval_seconds)
    fate = FatePolicy(settings.retry, topology, gate=gate)
    broker = make_broker(settings.rabbit, fate=fate)
    hooks = (register(broker, settings) if register is not None else None) or WorkerHooks()
    fate.on_give_up = hooks.on_give_up

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

    async def declare() -> None:
        await declare_topology(broker, topology)
        log.info("worker started", service=service, dependencies=list(dependencies))

    return AsgiFastStream(
        broker,
        asgi_routes=[("/healthz", healthz), ("/readyz", readyz), *routes],
        on_startup=hooks.on_startup,
        after_startup=[declare, *hooks.after_startup],
        # FastStream runs on_shutdown before the broker stops consuming: only release held
        # messages there; clients close once in-flight messages finished.
        on_shutdown=[gate.release],
        after_shutdown=hooks.on_shutdown,
    )


def _json(body: dict[str, object], status: int) -> AsgiResponse:
    return AsgiResponse(
        json.dumps(body).encode(), status, headers={"content-type": "application/json"}
    )
