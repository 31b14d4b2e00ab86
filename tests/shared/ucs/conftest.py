"""UCS test databases: created on the stack's PostgreSQL, migrated, dropped at the end.

``ucs_dsn`` is session-scoped (one migrated database shared by all UCS tests, which isolate
themselves by random tenant ids); ``fresh_dsn`` is an empty, unmigrated database per test.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator

import pytest

from cdds_shared.ucs.migrate import migrate
from tests.infra import StackInfo
from tests.infra.isolation import create_database, drop_database


@pytest.fixture(scope="session")
def ucs_dsn(stack: StackInfo) -> Iterator[str]:
    """DSN of a migrated database with a random name (``unique`` is per test, so not used)."""
    name = f"ucs_test_{uuid.uuid4().hex[:10]}"
    dsn = create_database(stack.ucs_dsn, name)
    try:
        migrate(dsn)
        yield dsn
    finally:
        drop_database(stack.ucs_dsn, name)


@pytest.fixture
def fresh_dsn(stack: StackInfo, unique: str) -> Iterator[str]:
    """DSN of an empty database (no UCS schema yet)."""
    name = f"ucs_fresh_{unique}"
    dsn = create_database(stack.ucs_dsn, name)
    try:
        yield dsn
    finally:
        drop_database(stack.ucs_dsn, name)


@pytest.fixture
def tenant_id() -> int:
    """A random tenant id, so tests sharing ``ucs_dsn`` never see each other's rows."""
    return random.randrange(1_000, 2**31 - 1)
