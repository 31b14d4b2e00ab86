"""The published export schemas (docs/schemas) against what ``PostgresUcsSource`` really produces.

Every streamed record validates; each schema lists exactly the adapter's members and allows null
and bounds lengths exactly as the UCS tables do, so a migration or adapter change that is not
mirrored in the schemas fails here. The examples in docs/export-format.md validate too.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from jsonschema import Draft202012Validator, FormatChecker

from cdds_shared.adapters.postgres_ucs import PostgresUcsSource
from cdds_shared.ports.ucs import UcsQuery
from cdds_shared.ucs import statements
from cdds_shared.ucs.seed import seed

DOCS = Path(__file__).resolve().parents[3] / "docs"
RECORDS = ("interaction", "contact", "attachment")
# Per record type: the UCS table and its (column, JSON member) pairs, as the adapter renders them.
COLUMNS = {
    "interaction": ("interaction", statements._INTERACTION),
    "contact": ("contact", statements._CONTACT),
    "attachment": ("document", (*statements._DOCUMENT, ("content", "content"))),
}
# What row_to_json makes of each PostgreSQL type (bytea is base64-encoded by the adapter).
RENDERED: dict[str, dict[str, Any]] = {
    "character varying": {"type": "string"},
    "text": {"type": "string"},
    "smallint": {"type": "integer", "minimum": -(2**15), "maximum": 2**15 - 1},
    "integer": {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1},
    "timestamp with time zone": {"type": "string", "format": "date-time"},
    "jsonb": {"type": "object"},
    "bytea": {"type": "string", "contentEncoding": "base64"},
}
_RFC3339 = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$"
)


def _is_date_time(value: object) -> bool:
    """RFC 3339 date-time (jsonschema checks it only when rfc3339-validator is installed)."""
    if not isinstance(value, str):
        return True
    upper = value.upper()
    return bool(_RFC3339.match(upper)) and datetime.fromisoformat(upper) is not None


FORMATS = FormatChecker()
FORMATS.checks("date-time", raises=ValueError)(_is_date_time)


def load(name: str) -> dict[str, Any]:
    path = DOCS / "schemas" / f"{name}.schema.json"
    schema: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return schema


def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(load(name), format_checker=FORMATS)


def problems(name: str, instance: Any) -> list[str]:
    return [f"{e.json_path}: {e.message[:200]}" for e in validator(name).iter_errors(instance)]


def doc_examples() -> list[tuple[str, str]]:
    """(schema name, JSON text) of each block marked ``<!-- example: NAME -->`` in the doc."""
    text = (DOCS / "export-format.md").read_text("utf-8")
    return re.findall(r"<!-- example: (\w+) -->\s*```json\n(.*?)```", text, re.DOTALL)


def objects(schema: Any) -> Iterator[dict[str, Any]]:
    """Every object schema with members (not the if/then refinements of one)."""
    if isinstance(schema, dict):
        if "properties" in schema and "type" in schema:
            yield schema
        for value in schema.values():
            yield from objects(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from objects(item)


@pytest.fixture(scope="module")
async def records(ucs_dsn: str) -> dict[str, list[dict[str, Any]]]:
    """Every record of a freshly seeded tenant, per record type, as the adapter streams them."""
    tenant = random.randrange(1_000, 2**31 - 1)
    seeded = seed(ucs_dsn, tenant, 300, 3_000, seed=11)
    source = PostgresUcsSource(ucs_dsn)
    streams = {
        "interaction": source.stream(UcsQuery(tenant)),
        "contact": source.stream(UcsQuery(tenant, "contact")),
        "attachment": source.stream_attachments(UcsQuery(tenant)),
    }
    try:
        out = {kind: [json.loads(raw) async for raw in stream] for kind, stream in streams.items()}
    finally:
        await source.close()
    assert (len(out["contact"]), len(out["interaction"])) == (300, 3_000)
    assert len(out["attachment"]) == seeded.attachments > 0
    return out


@pytest.mark.parametrize("name", [*RECORDS, "manifest"])
def test_schema_is_valid_and_fully_described(name: str) -> None:
    schema = load(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"https://cdds.example/schemas/{name}/1"
    for sub in objects(schema):
        undescribed = [m for m, s in sub["properties"].items() if not s.get("description")]
        assert not undescribed, f"members without a description: {undescribed}"
        assert sub["additionalProperties"] is False
        assert set(sub["required"]) <= set(sub["properties"])


@pytest.mark.parametrize("kind", RECORDS)
async def test_every_streamed_record_validates(
    records: dict[str, list[dict[str, Any]]], kind: str
) -> None:
    check = validator(kind)
    errors = [
        f"{record['id']} {e.json_path}: {e.message[:200]}"
        for record in records[kind]
        for e in check.iter_errors(record)
    ]
    assert not errors, "\n".join(errors[:10]) + f"\n({len(errors)} errors)"
    # Every member carries a value somewhere, so its type, format and pattern were exercised.
    never_set = [m for m in load(kind)["properties"] if all(r[m] is None for r in records[kind])]
    assert not never_set


@pytest.mark.parametrize("kind", RECORDS)
async def test_members_are_the_adapters_in_its_order(
    records: dict[str, list[dict[str, Any]]], kind: str
) -> None:
    schema = load(kind)
    produced = list(records[kind][0])
    assert list(schema["properties"]) == produced
    assert schema["required"] == produced
    assert [member for _, member in COLUMNS[kind][1]] == produced


@pytest.mark.parametrize("kind", RECORDS)
def test_types_nulls_and_lengths_follow_the_ucs_tables(ucs_dsn: str, kind: str) -> None:
    table, pairs = COLUMNS[kind]
    with psycopg.connect(ucs_dsn) as conn:
        rows = conn.execute(
            "SELECT column_name, data_type, is_nullable = 'YES', character_maximum_length"
            " FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = %s",
            (table,),
        ).fetchall()
    columns = {name: (data_type, nullable, length) for name, data_type, nullable, length in rows}
    properties = load(kind)["properties"]
    for column, member in pairs:
        data_type, nullable, length = columns[column]
        prop, expected = properties[member], RENDERED[data_type]
        types = {prop["type"]} if isinstance(prop["type"], str) else set(prop["type"])
        assert types == {expected["type"], *(["null"] if nullable else [])}, member
        assert {k: prop.get(k) for k in expected if k != "type"} == {
            k: v for k, v in expected.items() if k != "type"
        }, member
        assert prop.get("maxLength") == length, member


def _changed(record: dict[str, Any], member: str, value: Any) -> dict[str, Any]:
    out = dict(record)
    out[member] = value
    return out


@pytest.mark.parametrize(
    ("kind", "member", "value"),
    [
        ("interaction", "startDate", "2024-13-01T00:00:00+00:00"),  # format
        ("interaction", "startDate", "2024-03-06T13:12:32Z"),  # UTC as +00:00 only
        ("interaction", "startDate", None),
        ("interaction", "id", "X" * 17),
        ("interaction", "attachedData", ["not", "an", "object"]),
        ("interaction", "extra", 1),
        ("contact", "tenantId", "42"),
        ("contact", "createdDate", "yesterday"),
        ("attachment", "content", "aGVsbG8=\naGVsbG8="),  # line break
        ("attachment", "content", "aGVsbG8"),  # padding
        ("attachment", "theName", None),
    ],
)
async def test_the_schemas_reject_what_ucs_cannot_produce(
    records: dict[str, list[dict[str, Any]]], kind: str, member: str, value: Any
) -> None:
    assert problems(kind, _changed(records[kind][0], member, value))


@pytest.mark.parametrize(("name", "text"), doc_examples(), ids=[n for n, _ in doc_examples()])
def test_the_documented_examples_validate(name: str, text: str) -> None:
    if name in RECORDS:
        assert text.count("\n") == 1, "a JSON Lines example is one line"
    assert problems(name, json.loads(text)) == []


def test_the_doc_has_an_example_of_each_schema() -> None:
    assert sorted({name for name, _ in doc_examples()}) == sorted([*RECORDS, "manifest"])


def manifest_example() -> dict[str, Any]:
    found: dict[str, Any] = json.loads(dict(doc_examples())["manifest"])
    return found


def test_a_run_without_data_has_a_valid_manifest_without_parts() -> None:
    manifest = manifest_example()
    manifest.update(status="no_data", parts=[], totals={"parts": 0, "records": 0, "bytes": 0})
    assert problems("manifest", manifest) == []
    manifest["status"] = "completed"
    assert problems("manifest", manifest)  # a completed run has parts


@pytest.mark.parametrize(
    "path",
    [
        ("run_id",),
        ("status",),
        ("filters", "timeframe"),
        ("filters", "timeframe", "end"),
        ("parts", 0, "sha256"),
        ("parts", 0, "expires_at"),
        ("totals", "bytes"),
        ("schemas", "attachment"),
    ],
    ids=lambda path: "/".join(map(str, path)),
)
def test_a_manifest_missing_a_field_is_invalid(path: tuple[Any, ...]) -> None:
    manifest = manifest_example()
    parent = manifest
    for step in path[:-1]:
        parent = parent[step]
    del parent[path[-1]]
    assert problems("manifest", manifest)


def test_a_contact_manifest_names_contact_files_only() -> None:
    manifest = manifest_example()
    manifest["record_type"] = "contact"
    manifest["filters"]["media_types"] = None
    assert problems("manifest", manifest)  # the parts still hold Interaction files
