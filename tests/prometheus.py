"""Reading ``/metrics`` in tests: Prometheus text parsed with prometheus-client's own parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Scrape", "parse"]


class Scrape:
    """One scrape: every sample by name and labels, and the families named (even empty)."""

    def __init__(self, text: str) -> None:
        self.families: dict[str, str] = {}
        self.samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for family in text_string_to_metric_families(text):
            self.families[family.name] = family.type
            for sample in family.samples:
                self.samples[(sample.name, frozenset(sample.labels.items()))] = sample.value

    def value(self, name: str, **labels: str) -> float:
        """The sample with exactly these labels; 0 when absent (a counter not yet moved)."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def total(self, name: str, **labels: str) -> float:
        """The sum over every sample of ``name`` whose labels include ``labels``."""
        wanted = set(labels.items())
        return sum(v for (n, ls), v in self.samples.items() if n == name and wanted <= ls)

    def has(self, name: str) -> bool:
        return any(n == name for n, _ in self.samples)


def parse(text: str | bytes) -> Scrape:
    return Scrape(text.decode() if isinstance(text, bytes) else text)
