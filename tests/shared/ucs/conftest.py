"""UCS test databases: created on the stack's PostgreSQL, migrated, dropped at the end.

``ucs_dsn`` is session-scoped (one migrated database shared by all UCS tests, which isolate
themselves by random tenant ids); ``fresh_dsn`` is an empty, unmigrated database per test.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from cdds_shared.ucs.migrate import migrate
from tests.infra import StackInfo


def _create(admin_dsn: str, name: str) -> str:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_conninfo(admin_dsn, dbname=name)


def _drop(admin_dsn: str, name: str) -> None:
    drop = sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name))
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        try:
            # Plain DROP stops an autovacuum worker itself; FORCE would need the privilege to
            # signal that (superuser) process, which the test role lacks.
            conn.execute(drop)
        except psycopg.errors.ObjectInUse:  # a connection a failed test left open
            conn.execute(drop + sql.SQL(" WITH (FORCE)"))


@pytest.fixture(scope="session")
def ucs_dsn(stack: StackInfo) -> Iterator[str]:
    """DSN of a migrated database with a random name (``unique`` is per test, so not used)."""
    name = f"ucs_test_{uuid.uuid4().hex[:10]}"
    dsn = _create(stack.ucs_dsn, name)
    try:
        migrate(dsn)
        yield dsn
    finally:
        _drop(stack.ucs_dsn, name)


@pytest.fixture
def fresh_dsn(stack: StackInfo, unique: str) -> Iterator[str]:
    """DSN of an empty database (no UCS schema yet)."""
    name = f"ucs_fresh_{unique}"
    dsn = _create(stack.ucs_dsn, name)
    try:
        yield dsn
    finally:
        _drop(stack.ucs_dsn, name)


@pytest.fixture
def tenant_id() -> int:
    """A random tenant id, so tests sharing ``ucs_dsn`` never see each other's rows."""
    return random.randrange(1_000, 2**31 - 1)
