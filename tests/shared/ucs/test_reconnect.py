"""The adapter's shared connection survives its backend going away (a PostgreSQL restart, an
administrator's ``pg_terminate_backend``): the next short query reconnects once and succeeds.
Tested against the real server by terminating only this test's own backend."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from cdds_shared.adapters.postgres_ucs import PostgresUcsSource
from cdds_shared.errors import DependencyUnavailable
from cdds_shared.ports.ucs import UcsQuery
from tests.infra import StackInfo

pytestmark = pytest.mark.integration


@pytest.fixture
def application_name() -> str:
    """Names this test's connections in ``pg_stat_activity``, so only they are terminated."""
    return f"cdds-test-reconnect-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def source(ucs_dsn: str, application_name: str) -> AsyncIterator[PostgresUcsSource]:
    src = PostgresUcsSource(make_conninfo(ucs_dsn, application_name=application_name))
    yield src
    await src.close()


def terminate_backends(admin_dsn: str, application_name: str) -> int:
    """Terminate the named connections' backends (waiting up to 10 s for each to exit)."""
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity"
            " WHERE application_name = %s",
            (application_name,),
        ).fetchall()
    assert all(terminated for (terminated,) in rows), rows
    return len(rows)


async def test_a_terminated_idle_connection_is_replaced_transparently(
    source: PostgresUcsSource, stack: StackInfo, application_name: str
) -> None:
    query = UcsQuery(random.randrange(2**30, 2**31 - 1))  # a tenant with no rows
    # Given the shared connection was used once and sits idle
    assert await source.count(query) == 0
    # When its backend is terminated (what a restart does to every pooled connection)
    assert terminate_backends(stack.ucs_dsn, application_name) == 1
    # Then the next short queries succeed, on a new connection
    assert await source.count(query) == 0
    assert (await source.counts(query.tenant_id))["interactions"] == 0
    await source.ping()
    # And it happens again after the next termination (not a one-off)
    assert terminate_backends(stack.ucs_dsn, application_name) == 1
    assert await source.split_keys(query, 4) == []


async def test_a_server_that_cannot_be_reached_again_is_reported_once(
    source: PostgresUcsSource, stack: StackInfo, application_name: str
) -> None:
    # Given the shared connection worked, then lost its backend, and the server cannot be
    # reached any more (the DSN now points at a closed port)
    await source.ping()
    source._dsn = make_conninfo(source._dsn, host="127.0.0.1", port=1, connect_timeout=2)
    assert terminate_backends(stack.ucs_dsn, application_name) == 1
    # Then the one reconnect fails with the usual one-line DependencyUnavailable
    with pytest.raises(DependencyUnavailable, match="CDDS_UCS__DSN"):
        await source.ping()
