"""Is every line of a service's log one JSON object? (docs/operations.md, "Logs"): what
``make demo`` checks of the stack's logs (``.local/log/<service>.log``, from where the demo
began) and the tests check of the services they run."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

__all__ = ["log_sizes", "not_json", "written_since"]


def not_json(lines: Iterable[str]) -> list[tuple[int, str]]:
    """``(number, line)`` of each non-blank line that is not one JSON object (numbers from 1)."""
    bad = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            parsed = json.loads(line)
        except json.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, dict):
            bad.append((number, line))
    return bad


def log_sizes(paths: Iterable[Path]) -> dict[Path, int]:
    """Each log's size now (0 if it does not exist yet): where the next lines will begin."""
    return {path: path.stat().st_size if path.exists() else 0 for path in paths}


def written_since(path: Path, offset: int) -> list[str]:
    """The lines appended to ``path`` after ``offset`` bytes (all of them if it shrank)."""
    if not path.exists():
        return []
    with path.open("rb") as log:
        if path.stat().st_size >= offset:
            log.seek(offset)
        return log.read().decode("utf-8", errors="replace").splitlines()
