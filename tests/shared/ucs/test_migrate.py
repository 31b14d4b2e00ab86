"""Migrations: applied once, in order, idempotent, safe from concurrent runners."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from cdds_shared.errors import DependencyUnavailable, PermanentError
from cdds_shared.ucs.migrate import available, migrate

ALL = [m.version for m in available()]


def _versions(dsn: str) -> list[int]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT version FROM ucs_schema_migrations ORDER BY 1").fetchall()
    return [r[0] for r in rows]


def test_migrations_are_numbered_from_one_without_gaps() -> None:
    assert list(range(1, len(ALL) + 1)) == ALL
    assert len(ALL) >= 4


def test_migrate_applies_all_then_nothing(fresh_dsn: str) -> None:
    assert migrate(fresh_dsn) == ALL
    assert migrate(fresh_dsn) == []
    assert _versions(fresh_dsn) == ALL
    with psycopg.connect(fresh_dsn) as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables").fetchall()}
        types = conn.execute("SELECT count(*) FROM entity_type").fetchone()
    assert {"contact", "interaction", "document", "entity_type"} <= tables
    assert types is not None
    assert types[0] >= 6


def test_two_concurrent_runners_apply_each_migration_once(fresh_dsn: str) -> None:
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(migrate, [fresh_dsn, fresh_dsn]))
    assert sorted(results, key=len) == [[], ALL]
    assert _versions(fresh_dsn) == ALL


def test_an_edited_applied_migration_is_refused(fresh_dsn: str) -> None:
    migrate(fresh_dsn)
    with psycopg.connect(fresh_dsn) as conn:
        conn.execute("UPDATE ucs_schema_migrations SET sha256 = 'edited' WHERE version = 2")
    with pytest.raises(PermanentError, match="0002"):
        migrate(fresh_dsn)


def test_unreachable_server_names_the_setting() -> None:
    dsn = "postgresql://cdds:s3cr3t-pw@127.0.0.1:1/ucs"
    with pytest.raises(DependencyUnavailable) as caught:
        migrate(dsn)
    assert caught.value.setting == "CDDS_UCS__DSN"
    assert "s3cr3t-pw" not in str(caught.value)
