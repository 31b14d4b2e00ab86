"""Connections to the UCS database, with failures turned into one readable line.

Every error names ``CDDS_UCS__DSN`` (the setting to check) and never contains the password.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg.conninfo import conninfo_to_dict

from cdds_shared.errors import CddsError, ConfigError, DependencyUnavailable

__all__ = ["MAPPED_ERRORS", "SETTING", "aconnect", "connect", "dependency_error"]

SETTING = "CDDS_UCS__DSN"
CONNECT_TIMEOUT = 10
# Session defaults of every connection: UTC renders timestamps as ``...+00:00`` whatever the
# server's TimeZone, so exported JSON does not depend on where UCS runs.
_OPTIONS = "-c TimeZone=UTC"
# Planner costs of the reading connections, before the DSN's own options (which win): a random
# page read costs little more than a sequential one on SSDs and cached tables. With the default
# (4), PostgreSQL reads a key range by the primary key and filters out the other tenants' rows
# in it (every later row, once other tenants' rows follow), rather than by the index on
# (tenant_id, id) that holds only the tenant's (docs/benchmarks.md).
_READ_OPTIONS = "-c random_page_cost=1.1"
# Errors that mean "the UCS database is down, refuses us or is not what we expect" rather than a
# bug: callers map them with ``dependency_error``; anything else propagates unchanged.
MAPPED_ERRORS = (
    psycopg.OperationalError,
    psycopg.errors.UndefinedTable,
    psycopg.errors.InsufficientPrivilege,
)


def _one_line(exc: psycopg.Error) -> str:
    # A server error's primary message omits the "LINE 1: <query>" context; libpq's own
    # connection errors have no diagnostics, only their (multi-line) text.
    text = exc.diag.message_primary or str(exc)
    text = text.replace("FATAL:", "").removeprefix("connection failed:")
    return re.sub(r"\s+", " ", text).strip() or "unknown error"


def dependency_error(exc: psycopg.Error, dsn: str) -> CddsError:
    """Map a psycopg error to ``DependencyUnavailable``/``ConfigError`` without the password."""
    try:
        secret = conninfo_to_dict(dsn).get("password")
    except psycopg.Error:
        # libpq echoes fragments of an unparsable DSN, which may hold the password.
        return ConfigError(f"{SETTING}: invalid PostgreSQL DSN")
    reason = _one_line(exc)
    if secret:
        for form in {str(secret), quote(str(secret), safe=""), quote(str(secret))}:
            reason = reason.replace(form, "***")
    if isinstance(exc, psycopg.errors.UndefinedTable):
        return ConfigError(f"{SETTING}: {reason} (run `cdds-admin ucs migrate`)")
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return ConfigError(f"{SETTING}: {reason}")
    return DependencyUnavailable(SETTING, reason)


def _params(dsn: str, read_only: bool) -> dict[str, Any]:
    """Keyword arguments of connect(): our session options added to the DSN's own."""
    given: dict[str, Any] = {}
    with contextlib.suppress(psycopg.Error):  # connect() itself reports a bad DSN
        given = conninfo_to_dict(dsn)
    options = [_READ_OPTIONS if read_only else "", str(given.get("options") or ""), _OPTIONS]
    if read_only:
        options.append("-c default_transaction_read_only=on")
    return {
        "connect_timeout": given.get("connect_timeout") or CONNECT_TIMEOUT,
        "options": " ".join(o for o in options if o),
    }


def connect(dsn: str, *, read_only: bool = False, **kwargs: Any) -> psycopg.Connection[Any]:
    """Open a synchronous connection (admin tools: migrate, seed)."""
    try:
        return psycopg.connect(dsn, **_params(dsn, read_only), **kwargs)
    except psycopg.Error as exc:
        raise dependency_error(exc, dsn) from None


async def aconnect(
    dsn: str, *, read_only: bool = False, **kwargs: Any
) -> psycopg.AsyncConnection[Any]:
    """Open an asynchronous connection (the source adapter reads with ``read_only=True``)."""
    try:
        return await psycopg.AsyncConnection.connect(dsn, **_params(dsn, read_only), **kwargs)
    except psycopg.Error as exc:
        raise dependency_error(exc, dsn) from None
