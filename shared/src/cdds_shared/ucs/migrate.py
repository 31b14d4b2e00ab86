"""Schema migrations of the development/test UCS database (``migrations/NNNN_name.sql``).

CDDS never writes to a production UCS: these migrations only build the stand-in database that
``cdds-admin ucs seed`` fills. Each file runs in its own transaction and is recorded in
``ucs_schema_migrations``; a session advisory lock serialises concurrent runners, so running
twice, or from two processes at once, applies every file exactly once.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg

from cdds_shared.errors import PermanentError
from cdds_shared.ucs.connect import MAPPED_ERRORS, connect, dependency_error

__all__ = ["Migration", "available", "migrate"]

# Arbitrary constant key of pg_advisory_lock ("UCS-MIGR" in ASCII).
LOCK_KEY = 0x5543_532D_4D49_4752
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS ucs_schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    sha256     text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available() -> list[Migration]:
    """The packaged migrations, in version order."""
    found = []
    for entry in (resources.files("cdds_shared.ucs") / "migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


def _apply(conn: psycopg.Connection[Any]) -> list[int]:
    conn.execute(_CREATE_TABLE)
    done = dict(conn.execute("SELECT version, sha256 FROM ucs_schema_migrations").fetchall())
    applied = []
    for mig in available():
        if mig.version in done:
            if done[mig.version] != mig.sha256:
                raise PermanentError(
                    f"UCS migration {mig.version:04d}_{mig.name} changed after it was applied"
                )
            continue
        with conn.transaction():
            conn.execute(mig.sql.encode())  # bytes: no client-side parameter parsing
            conn.execute(
                "INSERT INTO ucs_schema_migrations (version, name, sha256) VALUES (%s, %s, %s)",
                (mig.version, mig.name, mig.sha256),
            )
        applied.append(mig.version)
    return applied


def migrate(dsn: str) -> list[int]:
    """Apply the pending migrations; return the versions applied by this call (maybe none)."""
    with connect(dsn, autocommit=True) as conn:
        try:
            conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
            try:
                return _apply(conn)
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
        except MAPPED_ERRORS as exc:
            raise dependency_error(exc, dsn) from None
