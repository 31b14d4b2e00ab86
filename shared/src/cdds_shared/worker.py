"""The shared runner of the FastStream workers (docs/pipeline.md §11).

A worker's composition root (its ``app.py``) builds a ``WorkerRuntime`` once — broker, topology,
the fate of its messages, the dependency gate and checks; nothing connects — builds its deps on
that broker, and hands its subscribers (a ``RabbitRouter``) and life-cycle hooks to
``WorkerRuntime.app``. The ``WorkerApp`` it gets back waits for the dependencies when it starts,
declares the topology, and serves ``/healthz``, ``/readyz`` and ``/metrics`` (the runtime's
registry: FastStream's message metrics and the worker's own, docs/operations.md § Metrics).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from faststream.asgi import AsgiFastStream
from faststream.asgi.types import ASGIApp
from faststream.rabbit import Channel, RabbitBroker, RabbitRouter
from prometheus_client import CollectorRegistry

from cdds_shared.health import Phase, health_routes
from cdds_shared.logging import configure_logging, get_logger
from cdds_shared.messaging import (
    DependencyGate,
    FatePolicy,
    GiveUp,
    Topology,
    declare_topology,
    make_broker,
    topology_of,
)
from cdds_shared.metrics import broker_metrics, metrics_route, new_registry
from cdds_shared.runtime import Check, await_dependencies, dependency_checks
from cdds_shared.settings import Settings
from cdds_shared.shutdown import InFlight, exit_zero_after_drain
from cdds_shared.telemetry import TracerProvider, Tracing, instrument_broker, tracing

__all__ = ["WorkerApp", "WorkerHooks", "WorkerRuntime"]

Hook = Callable[[], Awaitable[None]]


@dataclass
class WorkerHooks:
    """What a worker adds to the app's life: ``on_startup`` runs before the broker starts
    consuming (connect clients), ``after_startup`` once it consumes (background loops),
    ``on_shutdown`` after consuming stopped and in-flight messages finished. ``on_give_up``
    fails the run a message belongs to when its fate is a dead letter (``messaging/fate.py``);
    without it (the janitor) nothing but the message is given up. ``on_scrape`` runs before
    each ``GET /metrics`` (bounded, never failing the scrape: ``metrics/registry.py``)."""

    on_startup: list[Hook] = field(default_factory=list)
    after_startup: list[Hook] = field(default_factory=list)
    on_shutdown: list[Hook] = field(default_factory=list)
    on_give_up: GiveUp | None = None
    on_scrape: list[Hook] = field(default_factory=list)


@dataclass(frozen=True)
class WorkerRuntime:
    """What every worker shares, built once from the settings; nothing connects here.
    ``channel`` is the one consumer channel of its subscribers: ``CDDS_RABBIT__PREFETCH``
    messages per consumer, like every other consumer's. ``registry`` is this app's metrics
    registry (never the global one), served at ``/metrics``."""

    service: str
    dependencies: tuple[str, ...]
    broker: RabbitBroker
    topology: Topology
    channel: Channel
    checks: dict[str, Check]
    gate: DependencyGate
    fate: FatePolicy
    inflight: InFlight
    startup_timeout_seconds: float
    registry: CollectorRegistry
    tracing: Tracing = field(default_factory=Tracing)

    @classmethod
    def build(
        cls,
        service: str,
        dependencies: tuple[str, ...],
        settings: Settings,
        tracer_provider: TracerProvider | None = None,
    ) -> WorkerRuntime:
        """``tracer_provider``: a test's own, else ``CDDS_OTEL__ENDPOINT`` decides (telemetry)."""
        configure_logging(settings.log_level)
        checks = dependency_checks(settings, ("rabbitmq", *dependencies))
        topology = topology_of(settings)
        gate = DependencyGate(checks, probe_interval=settings.retry.probe_interval_seconds)
        fate = FatePolicy(settings.retry, topology, gate=gate)
        registry = new_registry()
        broker = make_broker(
            settings.rabbit, fate=fate, middlewares=(broker_metrics(registry, service),)
        )
        inflight = InFlight()
        broker.insert_middleware(inflight)  # outermost: it sees held messages too
        traces = tracing(settings, service, tracer_provider)
        instrument_broker(broker, traces)
        return cls(
            service=service,
            dependencies=dependencies,
            broker=broker,
            topology=topology,
            channel=Channel(
                prefetch_count=settings.rabbit.prefetch,
                publisher_confirms=True,
                on_return_raises=True,
            ),
            checks=checks,
            gate=gate,
            fate=fate,
            inflight=inflight,
            startup_timeout_seconds=settings.startup_timeout_seconds,
            registry=registry,
            tracing=traces,
        )

    def app(
        self,
        subscribers: RabbitRouter,
        hooks: WorkerHooks,
        routes: Sequence[tuple[str, ASGIApp]] = (),
    ) -> WorkerApp:
        """The worker: ``subscribers`` on the broker, ``hooks`` in its life, ``/healthz``,
        ``/readyz`` and ``/metrics`` plus the worker's own ``routes`` on the port
        ``faststream run`` is given."""
        self.broker.include_router(subscribers)
        self.fate.on_give_up = hooks.on_give_up
        log = get_logger(f"cdds.{self.service}")

        async def drain() -> None:
            await self.inflight.drain(self.broker)

        async def declare() -> None:
            await declare_topology(self.broker, self.topology)
            log.info("worker started", service=self.service, dependencies=list(self.dependencies))

        phase = Phase()
        return WorkerApp(
            self,
            subscribers,
            asgi_routes=[
                *health_routes(self.broker, self.checks, self.gate, phase),
                metrics_route(self.registry, hooks.on_scrape),
                *routes,
            ],
            on_startup=hooks.on_startup,
            # Ready only once the topology is declared and the background loops run.
            after_startup=[declare, *hooks.after_startup, phase.start],
            # FastStream runs on_shutdown before the broker stops consuming: held messages are
            # released (returned, not run), then the ones in flight finish or are returned
            # (``shutdown.py``); clients close once no handler runs.
            on_shutdown=[phase.stop, self.gate.release, drain],
            after_shutdown=[*hooks.on_shutdown, self.close_tracing],
        )

    async def close_tracing(self) -> None:
        self.tracing.close()


class WorkerApp(AsgiFastStream):
    """A worker's app. ``run`` (what ``faststream run`` calls) first waits for the dependencies,
    ending the process with one line naming the setting to check if they stay down."""

    def __init__(self, runtime: WorkerRuntime, subscribers: RabbitRouter, **options: Any) -> None:
        super().__init__(runtime.broker, **options)
        self.runtime = runtime
        self.subscribers = subscribers

    async def run(
        self, log_level: int = logging.INFO, run_extra_options: dict[str, Any] | None = None
    ) -> None:
        r = self.runtime
        exit_zero_after_drain()  # SIGTERM drains (shutdown.py), then ends with status 0
        await await_dependencies(r.service, r.checks, r.startup_timeout_seconds)
        # uvicorn (serving the probes) would install its own text handlers: without a
        # log_config its lines go through the root handler, JSON like every other (logging.py).
        await super().run(log_level, {**(run_extra_options or {}), "log_config": None})
