"""The domain's counters, one small class per service, each on the registry it is given.

Per process: with several replicas, sum the counters. Only what a process did is counted (a
part staged by another exporter, a duplicate delivery that changed nothing, is not), so the
sums count each part, record and run once.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import aclosing, contextmanager
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from cdds_shared.metrics.registry import new_registry

__all__ = ["DownloadMetrics", "EncryptorMetrics", "ExporterMetrics", "RunMetrics"]

SEAL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
"""Seconds to seal one part: a few MiB take well under a second, a 1 GiB part a minute or two."""


class RunMetrics:
    """The gateway's: runs it started, and how runs ended (counted by its announcer, which
    takes each ``RunCompleted`` / ``RunFailed`` once across replicas)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry or new_registry()
        self.started = Counter(
            "cdds_runs_started", "Runs the gateway started (API, pages, schedule, integrations).",
            registry=r,
        )  # fmt: skip
        self.completed = Counter(
            "cdds_runs_completed", "Runs that ended with their files (status completed) or "
            "with nothing to export (no_data).", ["status"], registry=r,
        )  # fmt: skip
        self.failed = Counter("cdds_runs_failed", "Runs that ended failed.", registry=r)
        for status in ("completed", "no_data"):
            self.completed.labels(status)

    def ended(self, status: str) -> None:
        if status == "failed":
            self.failed.inc()
        else:
            self.completed.labels(status).inc()


class ExporterMetrics:
    """The exporter's: parts it staged with their records and bytes, and the runs in progress
    as its watchdog last saw them."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry or new_registry()
        self.parts = Counter("cdds_exporter_parts_staged", "Parts staged.", registry=r)
        self.records = Counter(
            "cdds_exporter_records_exported", "Records (contacts or interactions) in the parts "
            "staged.", registry=r,
        )  # fmt: skip
        self.bytes = Counter(
            "cdds_exporter_bytes_exported", "Bytes of the parts staged (transit-encrypted ZIP).",
            registry=r,
        )  # fmt: skip
        self.active = Gauge(
            "cdds_runs_active", "Runs queued or running (the watchdog's last pass).", registry=r
        )
        self.oldest = Gauge(
            "cdds_runs_oldest_active_age_seconds", "Seconds since the oldest queued or running "
            "run was requested (0: none).", registry=r,
        )  # fmt: skip

    def staged(self, records: int, size: int) -> None:
        self.parts.inc()
        self.records.inc(records)
        self.bytes.inc(size)

    def in_progress(self, requested: Iterable[datetime], now: datetime) -> None:
        moments = list(requested)
        self.active.set(len(moments))
        self.oldest.set(max(((now - m).total_seconds() for m in moments), default=0.0))


class EncryptorMetrics:
    """The encryptor's: parts sealed (and recorded) by it, their bytes, how long sealing took."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry or new_registry()
        self.parts = Counter("cdds_encryptor_parts_sealed", "Parts sealed.", registry=r)
        self.bytes = Counter(
            "cdds_encryptor_bytes_sealed", "Bytes of the sealed files stored.", registry=r
        )
        self.latency = Histogram(
            "cdds_encryptor_seal_duration_seconds", "Seconds from reading a staged part to its "
            "sealed file stored.", buckets=SEAL_BUCKETS, registry=r,
        )  # fmt: skip

    @contextmanager
    def sealing(self) -> Iterator[None]:
        """Times a seal (only one that completes is observed)."""
        start = time.perf_counter()
        yield
        self.latency.observe(time.perf_counter() - start)

    def sealed(self, size: int) -> None:
        self.parts.inc()
        self.bytes.inc(size)


class DownloadMetrics:
    """The gateway's downloads: each one started, and the bytes it served (as sent)."""

    VIAS = ("stream", "redirect", "zip")

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry or new_registry()
        self.downloads = Counter(
            "cdds_gateway_downloads", "Downloads started: a file streamed (whole or a range), "
            "redirected to the object store, or files as one ZIP.", ["via"], registry=r,
        )  # fmt: skip
        self.bytes = Counter(
            "cdds_gateway_download_bytes", "Bytes the gateway sent in downloads (a redirect "
            "sends none: the object store does).", ["via"], registry=r,
        )  # fmt: skip
        for via in self.VIAS:
            self.downloads.labels(via)
            self.bytes.labels(via)

    def started(self, via: str) -> None:
        self.downloads.labels(via).inc()

    def counted(self, via: str, body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """``body``, adding each chunk's length to the bytes served as it is sent."""
        served = self.bytes.labels(via)

        async def counting() -> AsyncIterator[bytes]:
            async with aclosing(body):  # type: ignore[type-var]
                async for chunk in body:
                    served.inc(len(chunk))
                    yield chunk

        return counting()
