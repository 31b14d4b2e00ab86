"""The janitor's metrics, Prometheus text at ``GET /metrics`` (docs/retention.md § Metrics).

Per process: with several replicas, sum the counters and take the max of the maxima. Only the
replica that wins an artifact's deletion counts it, so the sums count each artifact once.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from faststream.asgi import AsgiResponse, get
from faststream.asgi.types import ASGIApp

from cdds_shared.retention import Expiry, SweepReport

__all__ = ["LAG_BUCKETS", "JanitorMetrics"]

LAG_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 6 * 3600.0, 86_400.0, math.inf)
"""Seconds from ``expires_at`` to deletion: a timer lands in the first buckets, a sweep within
its interval (300 s by default), a janitor outage beyond."""
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class JanitorMetrics:
    deleted: dict[str, int] = field(default_factory=lambda: {"event": 0, "sweep": 0})
    outcomes: dict[str, int] = field(default_factory=dict)
    lag_buckets: list[int] = field(default_factory=lambda: [0] * len(LAG_BUCKETS))
    lag_sum: float = 0.0
    lag_count: int = 0
    lag_max: float = 0.0
    sweeps: dict[str, int] = field(default_factory=lambda: {"success": 0, "failure": 0})
    sweep_last_success: float = 0.0
    overdue: int = 0
    orphans: int = 0
    backstop_ok: bool = False

    def record(self, expiry: Expiry) -> None:
        self.outcomes[expiry.outcome] = self.outcomes.get(expiry.outcome, 0) + 1
        if not expiry.deleted or expiry.lag_seconds is None:
            return
        lag = expiry.lag_seconds
        self.deleted[expiry.trigger] += 1
        self.lag_sum += lag
        self.lag_count += 1
        self.lag_max = max(self.lag_max, lag)
        for i, bound in enumerate(LAG_BUCKETS):
            if lag <= bound:
                self.lag_buckets[i] += 1

    def sweep_succeeded(self, report: SweepReport, at: float | None = None) -> None:
        self.sweeps["success"] += 1
        self.sweep_last_success = time.time() if at is None else at
        self.overdue = report.overdue
        self.orphans += report.orphans

    def sweep_failed(self) -> None:
        self.sweeps["failure"] += 1

    def render(self) -> str:
        lines: list[str] = []

        def metric(name: str, kind: str, help_: str, samples: list[tuple[str, float]]) -> None:
            lines.extend((f"# HELP {name} {help_}", f"# TYPE {name} {kind}"))
            lines.extend(f"{name}{labels} {_num(value)}" for labels, value in samples)

        metric(
            "cdds_janitor_deleted_total",
            "counter",
            "Artifacts this janitor deleted at the end of their retention, by what found them.",
            [(f'{{trigger="{t}"}}', n) for t, n in sorted(self.deleted.items())],
        )
        buckets = [
            (f'{{le="{"+Inf" if math.isinf(b) else _num(b)}"}}', n)
            for b, n in zip(LAG_BUCKETS, self.lag_buckets, strict=True)
        ]
        lines.extend(
            (
                "# HELP cdds_janitor_deletion_lag_seconds Seconds from expires_at to deletion.",
                "# TYPE cdds_janitor_deletion_lag_seconds histogram",
                *(f"cdds_janitor_deletion_lag_seconds_bucket{lb} {n}" for lb, n in buckets),
                f"cdds_janitor_deletion_lag_seconds_sum {_num(self.lag_sum)}",
                f"cdds_janitor_deletion_lag_seconds_count {self.lag_count}",
            )
        )
        metric(
            "cdds_janitor_deletion_lag_seconds_max",
            "gauge",
            "Largest deletion lag seen since this janitor started.",
            [("", self.lag_max)],
        )
        metric(
            "cdds_janitor_expiry_attempts_total",
            "counter",
            "Expiry attempts by outcome (expired, finished, lost, not_due, already_deleted, "
            "unknown).",
            [(f'{{outcome="{o}"}}', n) for o, n in sorted(self.outcomes.items())],
        )
        metric(
            "cdds_janitor_sweeps_total",
            "counter",
            "Sweep passes by result.",
            [(f'{{result="{r}"}}', n) for r, n in sorted(self.sweeps.items())],
        )
        metric(
            "cdds_janitor_sweep_last_success_timestamp",
            "gauge",
            "Unix time of the last sweep that completed (0: none yet).",
            [("", self.sweep_last_success)],
        )
        metric(
            "cdds_janitor_overdue_artifacts",
            "gauge",
            "Available artifacts past expires_at when the last sweep started.",
            [("", self.overdue)],
        )
        metric(
            "cdds_janitor_orphans_deleted_total",
            "counter",
            "Objects under artifacts/ removed because no available artifact refers to them.",
            [("", self.orphans)],
        )
        metric(
            "cdds_janitor_lifecycle_backstop_ok",
            "gauge",
            "1 once the bucket lifecycle rules are set, 0 while setting them fails.",
            [("", 1 if self.backstop_ok else 0)],
        )
        return "\n".join(lines) + "\n"

    def route(self) -> tuple[str, ASGIApp]:
        """``("/metrics", app)`` for ``WorkerRuntime.app(routes=...)``."""

        @get(include_in_schema=False)
        async def metrics(scope: object) -> AsgiResponse:
            return AsgiResponse(self.render().encode(), 200, headers={"content-type": CONTENT_TYPE})

        return "/metrics", metrics


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
