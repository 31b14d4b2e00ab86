"""Fill the development/test UCS database with synthetic rows for one tenant.

Seeding a tenant *replaces* that tenant's rows: its documents, interactions and contacts are
deleted and the new rows loaded with ``COPY`` in one transaction, so the result depends only on
(tenant, counts, seed) and readers see either the old or the new data. Other tenants are untouched.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from cdds_shared.ucs.connect import MAPPED_ERRORS, connect, dependency_error
from cdds_shared.ucs.fakedata import (
    CONTACT_COLUMNS,
    DOCUMENT_COLUMNS,
    INTERACTION_COLUMNS,
    Generator,
)

__all__ = ["SeedResult", "seed"]


@dataclass(frozen=True)
class SeedResult:
    tenant_id: int
    contacts: int
    interactions: int
    attachments: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        rows = self.contacts + self.interactions + self.attachments
        return rows / self.seconds if self.seconds else 0.0


def _copy(
    cur: psycopg.Cursor[Any],
    table: str,
    columns: tuple[str, ...],
    rows: Iterable[tuple[object, ...]],
) -> int:
    stmt = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    n = 0
    with cur.copy(stmt) as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


def seed(dsn: str, tenant_id: int, contacts: int, interactions: int, seed: int) -> SeedResult:
    """Replace the rows of ``tenant_id`` with ``contacts`` contacts and ``interactions``
    interactions (about 4.5% of them carry 1-3 attachments), generated from ``seed``."""
    if min(contacts, interactions) < 0:
        raise ValueError("counts must be >= 0")
    began = time.monotonic()
    gen = Generator(tenant_id, seed)
    with connect(dsn) as conn:
        try:
            with conn.transaction(), conn.cursor() as cur:
                for table in ("document", "interaction", "contact"):
                    cur.execute(
                        sql.SQL("DELETE FROM {} WHERE tenant_id = %s").format(
                            sql.Identifier(table)
                        ),
                        (tenant_id,),
                    )
                n_contacts = _copy(cur, "contact", CONTACT_COLUMNS, gen.contacts(contacts))
                n_inter = _copy(
                    cur, "interaction", INTERACTION_COLUMNS, gen.interactions(interactions)
                )
                n_docs = _copy(cur, "document", DOCUMENT_COLUMNS, gen.documents())
            conn.autocommit = True  # ANALYZE so the exporter's first plans use real statistics
            conn.execute("ANALYZE contact, interaction, document")
        except MAPPED_ERRORS as exc:
            raise dependency_error(exc, dsn) from None
    return SeedResult(tenant_id, n_contacts, n_inter, n_docs, time.monotonic() - began)
