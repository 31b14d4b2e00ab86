"""What a load run measured: per route, the answers by status class and the latency percentiles."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["Report", "RouteStats", "percentile"]


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (``p`` in 0..100) of already sorted values; 0 when empty."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass
class RouteStats:
    """One route's answers: ``statuses`` by HTTP status, ``failures`` without an answer
    (timeouts, refused connections), latencies in seconds."""

    route: str
    statuses: Counter[int] = field(default_factory=Counter)
    failures: int = 0
    latencies: list[float] = field(default_factory=list)

    def add(self, status: int | None, seconds: float) -> None:
        if status is None:
            self.failures += 1
        else:
            self.statuses[status] += 1
        self.latencies.append(seconds)

    @property
    def requests(self) -> int:
        return len(self.latencies)

    def of_class(self, hundred: int) -> int:
        return sum(n for status, n in self.statuses.items() if status // 100 == hundred)

    def p(self, p: float) -> float:
        return percentile(sorted(self.latencies), p)

    def merged(self, other: RouteStats, route: str) -> RouteStats:
        return RouteStats(
            route,
            self.statuses + other.statuses,
            self.failures + other.failures,
            self.latencies + other.latencies,
        )


@dataclass
class Report:
    """Every route's figures, the wall time of the load, and the machine's load average
    (1, 5, 15 min) before and after it."""

    routes: list[RouteStats]
    seconds: float
    clients: int
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def total(self) -> RouteStats:
        merged = RouteStats("all")
        for stats in self.routes:
            merged = merged.merged(stats, "all")
        return merged

    @property
    def requests_per_second(self) -> float:
        return self.total.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def server_errors(self) -> int:
        """5xx answers plus requests that got no answer at all."""
        total = self.total
        return total.of_class(5) + total.failures

    def render(self) -> str:
        head = (
            f"{'route':<24}{'requests':>9}{'2xx':>7}{'4xx':>6}{'5xx':>6}{'none':>6}"
            f"{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        )
        lines = [head]
        for stats in [*self.routes, self.total]:
            ms = [round(1000 * stats.p(p)) for p in (50, 99, 100)]
            lines.append(
                f"{stats.route:<24}{stats.requests:>9}{stats.of_class(2):>7}"
                f"{stats.of_class(4):>6}{stats.of_class(5):>6}{stats.failures:>6}"
                f"{ms[0]:>9}{ms[1]:>9}{ms[2]:>9}"
            )
        other = {s: n for s, n in self.total.statuses.items() if s // 100 not in (2, 4, 5)}
        if other:
            lines.append(f"other statuses: {dict(sorted(other.items()))}")
        before = " ".join(f"{x:.2f}" for x in self.load_before)
        after = " ".join(f"{x:.2f}" for x in self.load_after)
        lines.append(
            f"{self.total.requests} requests in {self.seconds:.1f} s by {self.clients} clients: "
            f"{self.requests_per_second:.1f} requests/s; load average before {before}, "
            f"after {after}"
        )
        return "\n".join(lines)
