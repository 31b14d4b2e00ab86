"""The seeder: deterministic, realistic, and re-seeding replaces a tenant's rows."""

from __future__ import annotations

import random

import psycopg
import pytest

from cdds_shared.ucs.seed import seed

TABLES = ("contact", "interaction", "document")


def _checksums(dsn: str, tenant_id: int) -> dict[str, str]:
    """md5 of every column of every row of the tenant, in id order."""
    with psycopg.connect(dsn) as conn:
        return {
            table: conn.execute(
                f"SELECT md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t.id), ''))"  # noqa: S608
                f" FROM {table} t WHERE tenant_id = %s",
                (tenant_id,),
            ).fetchone()[0]  # type: ignore[index]
            for table in TABLES
        }


def _scalar(dsn: str, query: str, *params: object) -> object:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


def test_same_seed_gives_identical_rows_and_reseeding_replaces(
    ucs_dsn: str, tenant_id: int
) -> None:
    first = seed(ucs_dsn, tenant_id, 40, 400, seed=7)
    sums = _checksums(ucs_dsn, tenant_id)
    again = seed(ucs_dsn, tenant_id, 40, 400, seed=7)

    assert _checksums(ucs_dsn, tenant_id) == sums
    assert (again.contacts, again.interactions, again.attachments) == (
        first.contacts, first.interactions, first.attachments,
    )  # fmt: skip
    assert (
        _scalar(ucs_dsn, "SELECT count(*) FROM interaction WHERE tenant_id = %s", tenant_id) == 400
    )


def test_a_different_seed_gives_different_rows(ucs_dsn: str, tenant_id: int) -> None:
    seed(ucs_dsn, tenant_id, 40, 400, seed=7)
    sums = _checksums(ucs_dsn, tenant_id)
    seed(ucs_dsn, tenant_id, 40, 400, seed=8)
    changed = _checksums(ucs_dsn, tenant_id)
    assert all(changed[t] != sums[t] for t in TABLES)


def test_reseeding_with_fewer_rows_leaves_no_old_rows(ucs_dsn: str, tenant_id: int) -> None:
    seed(ucs_dsn, tenant_id, 50, 500, seed=1)
    result = seed(ucs_dsn, tenant_id, 5, 30, seed=2)
    for table, expected in (("contact", 5), ("interaction", 30), ("document", result.attachments)):
        got = _scalar(ucs_dsn, f"SELECT count(*) FROM {table} WHERE tenant_id = %s", tenant_id)  # noqa: S608
        assert got == expected, table


def test_tenants_coexist_and_seeding_one_leaves_the_other(ucs_dsn: str, tenant_id: int) -> None:
    other = tenant_id + 1
    seed(ucs_dsn, tenant_id, 20, 200, seed=3)
    sums = _checksums(ucs_dsn, tenant_id)
    seed(ucs_dsn, other, 20, 200, seed=3)  # same seed, other tenant: distinct ids
    seed(ucs_dsn, other, 10, 100, seed=4)
    assert _checksums(ucs_dsn, tenant_id) == sums
    assert _scalar(ucs_dsn, "SELECT count(*) FROM interaction WHERE tenant_id = %s", other) == 100


# What realistic data must show; each query sees one seeded tenant (see ``test_seeded_data...``).
REALISM = {
    "several media types": "SELECT count(DISTINCT media_type_id) >= 5 FROM interaction",
    "several entity types": "SELECT count(DISTINCT entity_type_id) >= 6 FROM interaction",
    "multi-KB e-mail bodies": "SELECT avg(octet_length(the_text)) > 2000 FROM interaction"
    " WHERE media_type_id = 'email'",
    "emoji in subjects": "SELECT bool_or(subject ~ '[\U0001f300-\U0001faff]') FROM interaction",
    "emoji in bodies": "SELECT bool_or(the_text ~ '[\U0001f300-\U0001faff]') FROM interaction",
    "Cyrillic and CJK names": "SELECT bool_or(last_name ~ '[\u0400-\u04ff]')"
    " AND bool_or(first_name ~ '[\u3040-\u9fff]') FROM contact",
    "nulls in nullable columns": "SELECT count(*) > count(contact_id)"
    " AND count(*) > count(attached_data) AND count(*) > count(end_date) FROM interaction",
    "about 2 years of dates": "SELECT max(start_date) - min(start_date) > interval '600 days'"
    " FROM interaction",
    "attachments on ~10% of e-mails": "SELECT count(DISTINCT d.interaction_id)::float"
    " / count(DISTINCT i.id) BETWEEN 0.05 AND 0.15 FROM interaction i"
    " LEFT JOIN document d ON d.interaction_id = i.id WHERE i.media_type_id = 'email'",
    "1 to 3 attachments each": "SELECT max(n) <= 3 AND min(n) >= 1"
    " FROM (SELECT count(*) AS n FROM document GROUP BY interaction_id) AS x",
    "replies in threads": "SELECT bool_or(parent_id IS NOT NULL AND thread_id <> id)"
    " FROM interaction",
}


@pytest.fixture(scope="module")
def realistic(ucs_dsn: str) -> int:
    tenant = random.randrange(1_000, 2**31 - 1)
    seed(ucs_dsn, tenant, 300, 3_000, seed=11)
    return tenant


@pytest.mark.parametrize("what", REALISM)
def test_seeded_data_is_realistic(ucs_dsn: str, realistic: int, what: str) -> None:
    with psycopg.connect(ucs_dsn) as conn:
        # Temporary views shadow the tables (pg_temp comes first in search_path) so the checks
        # see this tenant's rows only.
        for table in TABLES:
            conn.execute(
                f"CREATE TEMP VIEW {table} AS SELECT * FROM public.{table}"  # noqa: S608
                f" WHERE tenant_id = {int(realistic)}"
            )
        row = conn.execute(REALISM[what].encode()).fetchone()
    assert row is not None
    assert row[0] is True, what
