"""``make bench``: the export pipeline against the baseline shell pipeline (docs/benchmarks.md)."""
