"""The janitor's ``/metrics``: counters, the lag histogram with its maximum, sweep health, on
the app's own registry (unit: no server)."""

from __future__ import annotations

import pytest

from cdds_janitor.metrics import JanitorMetrics
from cdds_shared.metrics import new_registry, render
from cdds_shared.retention import Expiry, SweepReport
from tests.prometheus import Scrape, parse

pytestmark = pytest.mark.unit


async def scrape(metrics: JanitorMetrics) -> Scrape:
    return parse(await render(metrics.registry))


async def test_deletions_feed_the_counters_and_the_lag_histogram() -> None:
    metrics = JanitorMetrics(new_registry())
    metrics.record(Expiry("a", "expired", "event", 0.4))
    metrics.record(Expiry("b", "expired", "sweep", 42.0))
    metrics.record(Expiry("c", "finished", "sweep", 90.0))
    metrics.record(Expiry("d", "lost", "sweep"))
    metrics.record(Expiry("e", "not_due", "event"))

    s = await scrape(metrics)

    assert s.value("cdds_janitor_deleted_total", trigger="event") == 1
    assert s.value("cdds_janitor_deleted_total", trigger="sweep") == 2
    lag = "cdds_janitor_deletion_lag_seconds_bucket"
    assert s.value(lag, le="1.0") == 1
    assert s.value(lag, le="60.0") == 2
    assert s.value(lag, le="300.0") == 3
    assert s.value(lag, le="+Inf") == 3
    assert s.value("cdds_janitor_deletion_lag_seconds_count") == 3
    assert s.value("cdds_janitor_deletion_lag_seconds_sum") == pytest.approx(132.4)
    assert s.value("cdds_janitor_deletion_lag_seconds_max") == 90.0
    assert s.value("cdds_janitor_expiry_attempts_total", outcome="lost") == 1
    assert s.value("cdds_janitor_expiry_attempts_total", outcome="not_due") == 1
    assert s.families["cdds_janitor_deletion_lag_seconds"] == "histogram"


async def test_sweeps_report_their_health() -> None:
    metrics = JanitorMetrics(new_registry())
    before = await scrape(metrics)
    assert before.value("cdds_janitor_sweep_last_success_timestamp") == 0
    assert before.has("cdds_janitor_lifecycle_backstop_ok")
    assert before.value("cdds_janitor_lifecycle_backstop_ok") == 0

    metrics.sweep_succeeded(SweepReport(overdue=4, expired=4, orphans=2), at=1_800_000_000.0)
    metrics.sweep_failed()
    metrics.backstop_ok = True

    s = await scrape(metrics)
    assert s.value("cdds_janitor_sweep_last_success_timestamp") == 1_800_000_000
    assert s.value("cdds_janitor_sweeps_total", result="success") == 1
    assert s.value("cdds_janitor_sweeps_total", result="failure") == 1
    assert s.value("cdds_janitor_overdue_artifacts") == 4
    assert s.value("cdds_janitor_orphans_deleted_total") == 2
    assert s.value("cdds_janitor_lifecycle_backstop_ok") == 1
    assert metrics.backstop_ok


def test_two_janitors_in_one_process_count_apart() -> None:
    """Each app has its own registry (no global one), so tests may build several."""
    one, two = JanitorMetrics(new_registry()), JanitorMetrics(new_registry())
    one.record(Expiry("a", "expired", "event", 1.0))
    assert one.registry.get_sample_value("cdds_janitor_deleted_total", {"trigger": "event"}) == 1
    assert two.registry.get_sample_value("cdds_janitor_deleted_total", {"trigger": "event"}) == 0
