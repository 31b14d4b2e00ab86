"""make bench-plot: the newest result of each size is drawn; older benches' files are ignored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cdds_tools.bench.plot import main, newest_results

pytestmark = pytest.mark.unit


def result(size: int, at: str, wall: float) -> dict[str, Any]:
    run = {"wall_seconds": wall, "peak_rss": {"exporter": 200 << 20, "encryptor": 140 << 20}}
    return {
        "at": at,
        "interactions": size,
        "records": size * 11 // 10,
        "cpus": 2,
        "repeat": 2,
        "ours": run,
        "replicas": {"1": run, "2": {**run, "wall_seconds": wall * 0.8}},
        "baselines": {
            k: {"wall_seconds": wall * f} for k, f in (("gzip", 3), ("pigz", 2), ("floor", 1))
        },
    }


def test_the_newest_result_of_each_size_is_drawn(tmp_path: Path) -> None:
    results, docs = tmp_path / "bench", tmp_path / "docs"
    results.mkdir()
    docs.mkdir()
    for size, at, wall in ((10_000, "2026-12-01T10:00:00+00:00", 9.0),
                           (10_000, "2026-12-02T10:00:00+00:00", 1.0),
                           (200_000, "2026-12-02T11:00:00+00:00", 6.0)):  # fmt: skip
        (results / f"bench-{size}-{at}.json").write_text(json.dumps(result(size, at, wall)))
    (results / "bench-10000-old.json").write_text(json.dumps({"interactions": 10_000, "at": "z"}))

    newest = newest_results(results)
    assert [(r["interactions"], r["ours"]["wall_seconds"]) for r in newest] == [
        (10_000, 1.0),
        (200_000, 6.0),
    ]
    assert main(["--results", str(results), "--out", str(docs)]) == 0
    for name in ("bench-wall.png", "bench-rss.png", "bench-replicas.png"):
        assert (docs / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_result_is_an_error_naming_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="run make bench"):
        main(["--results", str(tmp_path), "--out", str(tmp_path)])
