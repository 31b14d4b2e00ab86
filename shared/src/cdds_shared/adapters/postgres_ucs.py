"""``PostgresUcsSource``: the ``UcsSource`` port (``cdds_shared.ports.ucs``) over UCS 8.5's schema.

PostgreSQL renders each record's JSON (the members the port lists); records come from a
server-side cursor, so memory stays flat. The adapter never writes: every connection has
``default_transaction_read_only=on``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import psycopg
from psycopg import sql
from psycopg.abc import Buffer
from psycopg.adapt import Loader
from psycopg.rows import scalar_row, tuple_row

from cdds_shared.ports.ucs import KeyedRecord
from cdds_shared.settings import UcsSettings
from cdds_shared.ucs import statements
from cdds_shared.ucs.connect import MAPPED_ERRORS, aconnect, dependency_error
from cdds_shared.ucs.query import UcsQuery

__all__ = ["PostgresUcsSource"]


class _JsonBytes(Loader):
    """Hand ``json`` values over as the server's UTF-8 bytes: no decoding, no parsing."""

    def load(self, data: Buffer) -> bytes:
        return bytes(data)


class PostgresUcsSource:
    """``UcsSource`` over the UCS 8.5 PostgreSQL schema (psycopg 3, asyncio).

    Short queries share one connection (replaced, and the query retried once, when it turns out
    dead: a PostgreSQL restart costs no failed query); each stream opens its own, so partitions
    can be streamed concurrently. Close streams you abandon early (``contextlib.aclosing``).
    """

    def __init__(self, dsn: str, *, fetch_size: int = 250) -> None:
        self._dsn = dsn
        self._fetch_size = fetch_size
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: UcsSettings) -> PostgresUcsSource:
        return cls(settings.dsn.get_secret_value(), fetch_size=settings.fetch_size)

    async def _fetch(self, stmt: sql.Composed | str, params: Any = None) -> list[Any]:
        try:
            async with self._lock:
                return await self._fetch_once_or_reconnect(stmt, params)
        except MAPPED_ERRORS as exc:
            raise dependency_error(exc, self._dsn) from None

    async def _fetch_once_or_reconnect(self, stmt: sql.Composed | str, params: Any) -> list[Any]:
        """Run a short query on the shared connection. A connection that sat idle can be dead
        without knowing it (PostgreSQL restarted, its backend terminated): psycopg only marks
        it ``broken`` when a query fails on it. Such a failure is retried once on a new
        connection — safe, as these queries only read — so a restart costs no failed message.
        An error that leaves the connection usable (a bad query, a cancelled statement), or
        one on a connection just opened, is raised as is."""
        conn, reused = self._conn, True
        if conn is None or conn.closed or conn.broken:
            conn, reused = await self._reconnect(), False
        try:
            cur = await conn.execute(stmt, params)
            return await cur.fetchall()
        except psycopg.OperationalError:
            if not (reused and conn.broken):
                raise
        cur = await (await self._reconnect()).execute(stmt, params)
        return await cur.fetchall()

    async def _reconnect(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is not None:
            await self._conn.close()
        self._conn = await aconnect(self._dsn, read_only=True, autocommit=True)
        return self._conn

    async def ping(self) -> None:
        """Raise ``DependencyUnavailable`` unless UCS answers and its tables are readable."""
        await self._fetch("SELECT NULL FROM interaction, contact, document LIMIT 0")

    async def count(self, query: UcsQuery) -> int:
        rows = await self._fetch(*statements.count(query))
        return int(rows[0][0])

    async def counts(self, tenant_id: int) -> dict[str, Any]:
        """``{tenantId, contacts, interactions, attachments, interactionsByMediaType}``."""
        totals = await self._fetch(
            "SELECT (SELECT count(*) FROM contact WHERE tenant_id = %(t)s),"
            " (SELECT count(*) FROM document WHERE tenant_id = %(t)s)",
            {"t": tenant_id},
        )
        media = await self._fetch(
            "SELECT media_type_id, count(*) FROM interaction WHERE tenant_id = %s"
            " GROUP BY 1 ORDER BY 1",
            (tenant_id,),
        )
        by_media = {str(name): int(n) for name, n in media}
        return {
            "tenantId": tenant_id,
            "contacts": int(totals[0][0]),
            "interactions": sum(by_media.values()),
            "attachments": int(totals[0][1]),
            "interactionsByMediaType": by_media,
        }

    async def split_keys(self, query: UcsQuery, parts: int) -> list[str]:
        """At most ``parts - 1`` ascending ids splitting the query's rows into even key ranges;
        ``query.partition(keys)`` turns them into queries. Empty when there is nothing to split."""
        if parts < 2:
            return []
        keys, greatest = (await self._fetch(*statements.split_keys(query, parts)))[0]
        return sorted({k for k in keys or () if k < greatest}, key=str.encode)

    def stream(self, query: UcsQuery) -> AsyncIterator[bytes]:
        return self._stream(*statements.records(query))

    def stream_attachments(self, query: UcsQuery) -> AsyncIterator[bytes]:
        """Attachments can be megabytes each: they come by ``COPY ... TO STDOUT``, a row at a
        time as the server sends them, so memory stays bounded by the largest one. A cursor
        would have to fetch few at a time, and each ``FETCH`` costs the server as much again
        as the rows it returns (docs/benchmarks.md)."""
        return self._copy_out(*statements.attachments(query))

    async def _copy_out(self, stmt: sql.Composed, params: dict[str, Any]) -> AsyncIterator[bytes]:
        """The ``json`` value of each row of ``stmt``, streamed by ``COPY``."""
        conn = await aconnect(self._dsn, read_only=True)
        try:
            await conn.set_read_only(True)
            cur = conn.cursor()
            cur.adapters.register_loader("json", _JsonBytes)
            copy_out = sql.SQL("COPY ({}) TO STDOUT").format(stmt)
            async with cur.copy(copy_out, params) as copy:
                copy.set_types(["json"])
                async for (line,) in copy.rows():
                    yield line
        except MAPPED_ERRORS as exc:
            raise dependency_error(exc, self._dsn) from None
        finally:
            await conn.close()

    async def stream_batches(
        self, query: UcsQuery, *, attachment_sizes: bool = False
    ) -> AsyncIterator[list[KeyedRecord]]:
        stmt, params = statements.keyed_records(query, attachment_sizes)
        async for rows in self._batches(stmt, params, tuple_row):
            yield rows

    async def _stream(
        self, stmt: sql.Composed, params: dict[str, Any], fetch_size: int | None = None
    ) -> AsyncIterator[bytes]:
        async for rows in self._batches(stmt, params, scalar_row, fetch_size):
            for row in rows:
                yield row
            del rows  # before the next fetch, so at most one batch is alive

    async def _batches(
        self,
        stmt: sql.Composed,
        params: dict[str, Any],
        row_factory: Any,
        fetch_size: int | None = None,
    ) -> AsyncIterator[list[Any]]:
        size = min(fetch_size or self._fetch_size, self._fetch_size)
        conn = await aconnect(self._dsn, read_only=True)
        try:
            await conn.set_read_only(True)
            cur = conn.cursor(name="ucs_stream", row_factory=row_factory)
            cur.adapters.register_loader("json", _JsonBytes)
            await cur.execute(stmt, params)
            while rows := await cur.fetchmany(size):
                full = len(rows) == size
                yield rows
                del rows
                if not full:
                    break
        except MAPPED_ERRORS as exc:
            raise dependency_error(exc, self._dsn) from None
        finally:
            await conn.close()

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
