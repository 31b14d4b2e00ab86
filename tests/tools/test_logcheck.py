"""The JSON-lines check ``make demo`` runs on the services' logs (``cdds_tools.logcheck``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdds_tools.logcheck import log_sizes, not_json, written_since

pytestmark = pytest.mark.unit


def test_only_lines_that_are_one_json_object_pass() -> None:
    lines = [
        '{"event": "worker started", "level": "info"}',
        "",
        "2026-12-03 13:00:00,000 INFO     - FastStream app starting...",
        '["a list"]',
        '{"event": "cut',
        '{"event": "ok"}',
    ]
    assert not_json(lines) == [(3, lines[2]), (4, lines[3]), (5, lines[4])]


def test_only_the_lines_written_since_count(tmp_path: Path) -> None:
    log = tmp_path / "gateway.log"
    missing = tmp_path / "janitor.log"
    log.write_text("old plain line\n")
    sizes = log_sizes([log, missing])
    assert sizes == {log: len("old plain line\n"), missing: 0}

    with log.open("a") as out:
        out.write('{"event": "new"}\n')
    missing.write_text('{"event": "first"}\n')

    assert written_since(log, sizes[log]) == ['{"event": "new"}']
    assert written_since(missing, sizes[missing]) == ['{"event": "first"}']
    assert written_since(tmp_path / "none.log", 0) == []
    log.write_text('{"event": "rotated"}\n')  # shorter than before: read from the start
    assert written_since(log, 10_000) == ['{"event": "rotated"}']
