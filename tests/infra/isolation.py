"""Private corners of the shared servers for one test module: a RabbitMQ virtual host, a UCS
database. The running services (``make up``) never see them."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import httpx
import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from cdds_tools.devstack.rabbit_users import ALL, SERVICE_PERMISSIONS, add_vhost
from tests.infra.provide import StackInfo

__all__ = ["create_database", "drop_database", "rabbit_management", "temporary_vhost"]


def _service_user(stack: StackInfo) -> tuple[str, str]:
    parts = urlsplit(stack.rabbit_url)
    return unquote(parts.username or "guest"), unquote(parts.password or "guest")


def rabbit_management(stack: StackInfo) -> httpx.Client:
    """The management API as an administrator (the operator; else the services' user)."""
    return httpx.Client(
        base_url=stack.rabbit_management_url,
        auth=stack.rabbit_operator or _service_user(stack),
        timeout=10,
    )


@contextlib.contextmanager
def temporary_vhost(stack: StackInfo, *, production: bool = False) -> Iterator[str]:
    """AMQP URL of a new virtual host for the services' user, deleted afterwards. With
    ``production`` that user gets there only what it has on ``/`` (``cdds.*``), as the e2e
    workers do; else everything (tests that declare queues of their own)."""
    name = f"cdds-test-{uuid.uuid4().hex[:8]}"
    parts = urlsplit(stack.rabbit_url)
    service, _ = _service_user(stack)
    with rabbit_management(stack) as api:
        operator = stack.rabbit_operator[0] if stack.rabbit_operator else None
        try:
            add_vhost(api, name, service, operator, SERVICE_PERMISSIONS if production else ALL)
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
