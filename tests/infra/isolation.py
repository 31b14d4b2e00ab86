"""Private corners of the shared servers for one test module: a RabbitMQ virtual host, a UCS
database. The running services (``make up``) never see them."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from tests.infra.provide import StackInfo

__all__ = ["create_database", "drop_database", "rabbit_management", "temporary_vhost"]


def rabbit_management(stack: StackInfo) -> httpx.Client:
    parts = urlsplit(stack.rabbit_url)
    return httpx.Client(
        base_url=stack.rabbit_management_url,
        auth=(parts.username or "guest", parts.password or "guest"),
        timeout=10,
    )


@contextlib.contextmanager
def temporary_vhost(stack: StackInfo) -> Iterator[str]:
    """AMQP URL of a new virtual host, deleted afterwards."""
    name = f"cdds-test-{uuid.uuid4().hex[:8]}"
    parts = urlsplit(stack.rabbit_url)
    with rabbit_management(stack) as api:
        api.put(f"/api/vhosts/{quote(name, safe='')}").raise_for_status()
        api.put(
            f"/api/permissions/{quote(name, safe='')}/{parts.username or 'guest'}",
            json={"configure": ".*", "write": ".*", "read": ".*"},
        ).raise_for_status()
        try:
            yield urlunsplit(parts._replace(path="/" + quote(name, safe="")))
        finally:
            api.delete(f"/api/vhosts/{quote(name, safe='')}")


def create_database(admin_dsn: str, name: str) -> str:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_conninfo(admin_dsn, dbname=name)


def drop_database(admin_dsn: str, name: str) -> None:
    drop = sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name))
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        try:
            # Plain DROP stops an autovacuum worker itself; FORCE would need the privilege to
            # signal that (superuser) process, which the test role lacks.
            conn.execute(drop)
        except psycopg.errors.ObjectInUse:  # a connection a failed test left open
            conn.execute(drop + sql.SQL(" WITH (FORCE)"))
