"""The janitor's retention metrics, on the app's registry (docs/retention.md § Metrics).

Per process: with several replicas, sum the counters and take the max of the maxima. Only the
replica that wins an artifact's deletion counts it, so the sums count each artifact once.
"""

from __future__ import annotations

import math
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from cdds_shared.metrics import new_registry
from cdds_shared.retention import Expiry, SweepReport

__all__ = ["LAG_BUCKETS", "JanitorMetrics"]

LAG_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 6 * 3600.0, 86_400.0, math.inf)
"""Seconds from ``expires_at`` to deletion: a timer lands in the first buckets, a sweep within
its interval (300 s by default), a janitor outage beyond."""
TRIGGERS = ("event", "sweep")


class JanitorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry or new_registry()
        self.registry = r
        self.deleted = Counter(
            "cdds_janitor_deleted", "Artifacts this janitor deleted at the end of their "
            "retention, by what found them.", ["trigger"], registry=r,
        )  # fmt: skip
        self.lag = Histogram(
            "cdds_janitor_deletion_lag_seconds", "Seconds from expires_at to deletion.",
            buckets=LAG_BUCKETS, registry=r,
        )  # fmt: skip
        self.lag_max = Gauge(
            "cdds_janitor_deletion_lag_seconds_max",
            "Largest deletion lag seen since this janitor started.", registry=r,
        )  # fmt: skip
        self.outcomes = Counter(
            "cdds_janitor_expiry_attempts", "Expiry attempts by outcome (expired, finished, "
            "lost, not_due, already_deleted, unknown).", ["outcome"], registry=r,
        )  # fmt: skip
        self.sweeps = Counter(
            "cdds_janitor_sweeps", "Sweep passes by result.", ["result"], registry=r
        )
        self.sweep_last_success = Gauge(
            "cdds_janitor_sweep_last_success_timestamp",
            "Unix time of the last sweep that completed (0: none yet).", registry=r,
        )  # fmt: skip
        self.overdue = Gauge(
            "cdds_janitor_overdue_artifacts",
            "Available artifacts past expires_at when the last sweep started.", registry=r,
        )  # fmt: skip
        self.orphans = Counter(
            "cdds_janitor_orphans_deleted", "Objects under artifacts/ removed because no "
            "available artifact refers to them.", registry=r,
        )  # fmt: skip
        self.backstop = Gauge(
            "cdds_janitor_lifecycle_backstop_ok",
            "1 once the bucket lifecycle rules are set, 0 while setting them fails.", registry=r,
        )  # fmt: skip
        for trigger in TRIGGERS:
            self.deleted.labels(trigger)
        for result in ("success", "failure"):
            self.sweeps.labels(result)
        self._lag_max = 0.0
        self._backstop_ok = False

    @property
    def backstop_ok(self) -> bool:
        return self._backstop_ok

    @backstop_ok.setter
    def backstop_ok(self, ok: bool) -> None:
        self._backstop_ok = ok
        self.backstop.set(1 if ok else 0)

    def record(self, expiry: Expiry) -> None:
        self.outcomes.labels(expiry.outcome).inc()
        if not expiry.deleted or expiry.lag_seconds is None:
            return
        self.deleted.labels(expiry.trigger).inc()
        self.lag.observe(expiry.lag_seconds)
        self._lag_max = max(self._lag_max, expiry.lag_seconds)
        self.lag_max.set(self._lag_max)

    def sweep_succeeded(self, report: SweepReport, at: float | None = None) -> None:
        self.sweeps.labels("success").inc()
        self.sweep_last_success.set(time.time() if at is None else at)
        self.overdue.set(report.overdue)
        self.orphans.inc(report.orphans)

    def sweep_failed(self) -> None:
        self.sweeps.labels("failure").inc()
