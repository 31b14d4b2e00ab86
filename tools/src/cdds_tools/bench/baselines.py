"""The baselines of ``make bench``: shell pipelines a user would script over the same rows,
rendered by the exporter's own SQL (docs/benchmarks.md)."""

from __future__ import annotations

import os
import resource
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg

from cdds_shared.ucs import statements
from cdds_shared.ucs.query import UcsQuery
from cdds_tools.bench.sandbox import cpu_seconds

__all__ = ["BASELINES", "baseline", "copies", "json_bytes", "pipeline"]


def json_bytes(dsn: str, query: UcsQuery) -> int:
    """Bytes of JSON Lines the export writes (records and attachments, newlines included)."""
    total = 0
    with psycopg.connect(dsn) as conn:
        for stmt, params in (statements.records(query), statements.attachments(query)):
            sized = psycopg.sql.SQL(
                "SELECT coalesce(sum(octet_length(j::text) + 1), 0) FROM ({}) AS s(j)"
            ).format(stmt)
            row = conn.execute(sized, params).fetchone()
            total += int(row[0]) if row else 0
    return total


BASELINES = ("gzip", "pigz", "floor")


def pipeline(kind: str, copies: str, level: int, cert: Path, out: Path) -> str:
    """The shell pipeline of baseline ``kind`` over the ``psql`` commands ``copies``."""
    if kind == "floor":
        return f"set -o pipefail; {{ {copies} ; }} > /dev/null"
    compress = f"gzip -{level}" if kind == "gzip" else f"pigz -{level} -p {os.cpu_count() or 1}"
    return (
        f"set -o pipefail; {{ {copies} ; }} | {compress} | openssl cms -encrypt -binary "
        f"-aes-256-gcm -recip {shlex.quote(str(cert))} -keyopt rsa_padding_mode:oaep "
        f"-keyopt rsa_oaep_md:sha256 -keyopt rsa_mgf1_md:sha256 -outform DER "
        f"-out {shlex.quote(str(out))}"
    )


def copies(dsn: str, query: UcsQuery) -> str:
    """``psql`` commands that COPY the run's rows, rendered by the exporter's own SQL."""
    with psycopg.connect(dsn) as conn:
        copies = [
            psycopg.ClientCursor(conn).mogrify(stmt.as_string(conn), params)
            for stmt, params in (statements.records(query), statements.attachments(query))
        ]
    return " ; ".join(
        f"psql {shlex.quote(dsn)} -qAt -c {shlex.quote(f'COPY ({c}) TO STDOUT')}" for c in copies
    )


def baseline(kind: str, copies: str, cert: Path, out: Path, level: int) -> dict[str, Any]:
    """One run of a baseline pipeline: wall time, CPU seconds, bytes out."""
    cpu_before = cpu_seconds({})
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.monotonic()
    subprocess.run(["bash", "-c", pipeline(kind, copies, level, cert, out)], check=True)
    wall = time.monotonic() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = {k: v - cpu_before[k] for k, v in cpu_seconds({}).items()}
    cpu["pipeline"] = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    size = out.stat().st_size if out.exists() else 0
    out.unlink(missing_ok=True)
    return {
        "wall_seconds": wall,
        "cpu_seconds": {k: round(v, 2) for k, v in cpu.items() if v >= 0.01},
        "bytes_out": size,
    }
