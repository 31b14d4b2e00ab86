"""How a run's progress and a download's bytes are shown: a rich progress bar on a terminal,
otherwise plain lines on stderr (a log, a CI job), so stdout stays for data."""

from __future__ import annotations

import sys
import time
from typing import Any, Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from cdds_client.output import human_size, say

__all__ = ["BytesProgress", "RunDisplay", "bytes_progress", "run_display"]


def _console() -> Console:
    return Console(file=sys.stderr)


def _terminal() -> bool:
    return sys.stderr.isatty()


class RunDisplay(Protocol):
    def show(self, view: dict[str, Any]) -> None: ...
    def close(self) -> None: ...


def run_display(run_id: str) -> RunDisplay:
    return _RunBar(run_id) if _terminal() else _RunLines(run_id)


class _Rate:
    """Records per second since the first view: the gateway reports counts, not speed."""

    def __init__(self) -> None:
        self._first: tuple[float, int] | None = None

    def of(self, records: int) -> float | None:
        now = time.monotonic()
        if self._first is None:
            self._first = (now, records)
            return None
        elapsed = now - self._first[0]
        return (records - self._first[1]) / elapsed if elapsed > 0 else None


def _numbers(view: dict[str, Any], rate: _Rate) -> tuple[int, int | None, float, str, str]:
    progress = view.get("progress") or {}
    records = int(progress.get("records") or 0)
    total = progress.get("estimated_total")
    percent = float(progress.get("percent") or 0.0)
    speed = rate.of(records)
    eta = progress.get("eta_seconds")
    per_second = f"{speed:.0f} records/s" if speed is not None else "- records/s"
    left = f"{eta:.0f} s left" if eta is not None else "- s left"
    return records, (int(total) if total is not None else None), percent, per_second, left


class _RunLines:
    def __init__(self, run_id: str) -> None:
        self._run_id = run_id
        self._rate = _Rate()

    def show(self, view: dict[str, Any]) -> None:
        records, total, percent, per_second, left = _numbers(view, self._rate)
        of = f"/{total}" if total is not None else ""
        say(
            f"run {self._run_id}: {view['status']} {percent:.1f}% {records}{of} records, "
            f"{per_second}, {left}"
        )

    def close(self) -> None:
        return None


class _RunBar:
    def __init__(self, run_id: str) -> None:
        self._rate = _Rate()
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>5.1f}%"),
            TextColumn("{task.fields[records]} records"),
            TextColumn("{task.fields[speed]}"),
            TextColumn("{task.fields[left]}"),
            console=_console(),
        )
        self._task = self._progress.add_task(
            f"run {run_id}", total=100.0, records="0", speed="", left=""
        )
        self._progress.start()

    def show(self, view: dict[str, Any]) -> None:
        records, total, percent, per_second, left = _numbers(view, self._rate)
        self._progress.update(
            self._task,
            completed=percent,
            description=view["status"],
            records=f"{records}/{total}" if total is not None else str(records),
            speed=per_second,
            left=left,
        )

    def close(self) -> None:
        self._progress.stop()


class BytesProgress(Protocol):
    def start(self, name: str, size: int, offset: int) -> None: ...
    def advance(self, count: int) -> None: ...
    def done(self, message: str) -> None: ...
    def close(self) -> None: ...


def bytes_progress() -> BytesProgress:
    return _BytesBar() if _terminal() else _BytesLines()


class _BytesLines:
    def __init__(self) -> None:
        self._name = ""

    def start(self, name: str, size: int, offset: int) -> None:
        self._name = name
        if 0 < offset < size:
            say(f"{name}: resuming at byte {offset} of {size}")
        elif offset == 0:
            say(f"{name}: downloading {human_size(size)}")

    def advance(self, count: int) -> None:
        return None

    def done(self, message: str) -> None:
        say(f"{self._name}: {message}")

    def close(self) -> None:
        return None


class _BytesBar:
    def __init__(self) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=_console(),
        )
        self._task: TaskID | None = None
        self._name = ""
        self._progress.start()

    def start(self, name: str, size: int, offset: int) -> None:
        self._name = name
        self._task = self._progress.add_task(name, total=size, completed=offset)
        if 0 < offset < size:
            self._progress.console.print(f"{name}: resuming at byte {offset} of {size}")

    def advance(self, count: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, count)

    def done(self, message: str) -> None:
        self._progress.console.print(f"{self._name}: {message}")

    def close(self) -> None:
        self._progress.stop()
