"""The janitor's ``/metrics`` text: counters, the lag histogram with its maximum, sweep health."""

from __future__ import annotations

import re

from cdds_janitor.metrics import JanitorMetrics
from cdds_shared.retention import Expiry, SweepReport


def samples(text: str) -> dict[str, float]:
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            found[name] = float(value)
    return found


def test_deletions_feed_the_counters_and_the_lag_histogram() -> None:
    metrics = JanitorMetrics()
    metrics.record(Expiry("a", "expired", "event", 0.4))
    metrics.record(Expiry("b", "expired", "sweep", 42.0))
    metrics.record(Expiry("c", "finished", "sweep", 90.0))
    metrics.record(Expiry("d", "lost", "sweep"))
    metrics.record(Expiry("e", "not_due", "event"))

    s = samples(metrics.render())

    assert s['cdds_janitor_deleted_total{trigger="event"}'] == 1
    assert s['cdds_janitor_deleted_total{trigger="sweep"}'] == 2
    assert s['cdds_janitor_deletion_lag_seconds_bucket{le="1"}'] == 1
    assert s['cdds_janitor_deletion_lag_seconds_bucket{le="60"}'] == 2
    assert s['cdds_janitor_deletion_lag_seconds_bucket{le="300"}'] == 3
    assert s['cdds_janitor_deletion_lag_seconds_bucket{le="+Inf"}'] == 3
    assert s["cdds_janitor_deletion_lag_seconds_count"] == 3
    assert s["cdds_janitor_deletion_lag_seconds_sum"] == 132.4
    assert s["cdds_janitor_deletion_lag_seconds_max"] == 90.0
    assert s['cdds_janitor_expiry_attempts_total{outcome="lost"}'] == 1
    assert s['cdds_janitor_expiry_attempts_total{outcome="not_due"}'] == 1


def test_sweeps_report_their_health() -> None:
    metrics = JanitorMetrics()
    assert samples(metrics.render())["cdds_janitor_sweep_last_success_timestamp"] == 0

    metrics.sweep_succeeded(SweepReport(overdue=4, expired=4, orphans=2), at=1_800_000_000.0)
    metrics.sweep_failed()
    metrics.backstop_ok = True

    s = samples(metrics.render())
    assert s["cdds_janitor_sweep_last_success_timestamp"] == 1_800_000_000
    assert s['cdds_janitor_sweeps_total{result="success"}'] == 1
    assert s['cdds_janitor_sweeps_total{result="failure"}'] == 1
    assert s["cdds_janitor_overdue_artifacts"] == 4
    assert s["cdds_janitor_orphans_deleted_total"] == 2
    assert s["cdds_janitor_lifecycle_backstop_ok"] == 1


def test_the_text_is_prometheus_exposition_format() -> None:
    text = JanitorMetrics().render()
    assert text.endswith("\n")
    for line in text.splitlines():
        assert re.fullmatch(
            r"# (HELP|TYPE) cdds_janitor_\w+ .+|cdds_janitor_\w+(\{\w+=\"[^\"]*\"\})? [0-9.e+-]+",
            line,
        ), line
