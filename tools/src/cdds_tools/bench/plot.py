"""``make bench-plot``: draw the newest ``make bench`` result of each export size into PNGs.

- ``bench-wall.png``: wall time against export size, ours and each baseline (log-log);
- ``bench-rss.png``: peak RSS of the exporter and the encryptor against export size;
- ``bench-replicas.png``: records/s with 1 and 2 exporter + encryptor pairs.

Reads ``bench-<size>-<time>.json`` from ``--results`` (the bench's ``--out``); a size with no
result is left out, and no result at all is an error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # after the backend is chosen

__all__ = ["main"]

MiB = 1 << 20
COLOURS = {"ours": "#0b5394", "gzip": "#a61c00", "pigz": "#e69138", "floor": "#6aa84f"}


def newest_results(results: Path) -> list[dict[str, Any]]:
    """The newest result of each size, smallest size first."""
    newest: dict[int, tuple[str, dict[str, Any]]] = {}
    for path in results.glob("bench-*-*.json"):
        result = json.loads(path.read_text())
        if "baselines" not in result:  # written by an older bench
            continue
        size = int(result["interactions"])
        if size not in newest or result["at"] > newest[size][0]:
            newest[size] = (result["at"], result)
    return [newest[size][1] for size in sorted(newest)]


def _axes(title: str, ylabel: str) -> tuple[Any, Any]:
    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=110)
    axes.set_title(title)
    axes.set_xlabel("interactions exported")
    axes.set_ylabel(ylabel)
    axes.set_xscale("log")
    axes.grid(True, which="both", alpha=0.3)
    return figure, axes


def plot(results: list[dict[str, Any]], out: Path) -> list[Path]:
    sizes = [r["interactions"] for r in results]
    machine = f"{results[-1]['cpus']} cores; best of {results[-1]['repeat']}"
    written: list[Path] = []

    figure, axes = _axes(f"Export wall time ({machine})", "seconds")
    axes.set_yscale("log")
    axes.plot(sizes, [r["ours"]["wall_seconds"] for r in results], "o-", label="CDDS (1 pair)",
              color=COLOURS["ours"], linewidth=2.5)  # fmt: skip
    labels = {"gzip": "psql | gzip -6 | openssl cms", "pigz": "psql | pigz -6 | openssl cms",
              "floor": "psql COPY > /dev/null (source floor)"}  # fmt: skip
    for kind, label in labels.items():
        walls = [r["baselines"][kind]["wall_seconds"] for r in results]
        style = "s--" if kind != "floor" else "^:"
        axes.plot(sizes, walls, style, label=label, color=COLOURS[kind])
    axes.legend()
    written.append(_save(figure, out / "bench-wall.png"))

    figure, axes = _axes("Peak RSS of the workers", "MiB")
    for service, style in (("exporter", "o-"), ("encryptor", "s-")):
        peaks = [r["ours"]["peak_rss"].get(service, 0) / MiB for r in results]
        axes.plot(sizes, peaks, style, label=service)
    axes.axhline(256, color="#999999", linestyle="--", label="256 MiB")
    axes.set_ylim(bottom=0)
    axes.legend()
    written.append(_save(figure, out / "bench-rss.png"))

    scaled = [r for r in results if len(r.get("replicas", {})) > 1]
    if scaled:
        figure, axes = _axes("Throughput with 1 and 2 exporter + encryptor pairs", "records/s")
        for n in sorted({n for r in scaled for n in r["replicas"]}, key=int):
            points = [(r["interactions"], r) for r in scaled if n in r["replicas"]]
            axes.plot(
                [size for size, _ in points],
                [r["records"] / r["replicas"][n]["wall_seconds"] for _, r in points],
                "o-",
                label=f"{n} pair{'s' if n != '1' else ''}",
            )
        axes.set_ylim(bottom=0)
        axes.legend()
        written.append(_save(figure, out / "bench-replicas.png"))
    return written


def _save(figure: Any, path: Path) -> Path:
    figure.tight_layout()
    # No timestamps in the PNG's metadata: the same figures draw the same file.
    figure.savefig(path, metadata={"Software": None})
    plt.close(figure)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cdds-bench-plot", description=__doc__)
    parser.add_argument("--results", type=Path, default=Path(".local/bench"))
    parser.add_argument("--out", type=Path, default=Path("docs"))
    args = parser.parse_args(argv)
    results = newest_results(args.results)
    if not results:
        raise SystemExit(f"bench-plot: no make bench result in {args.results}: run make bench")
    for path in plot(results, args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
