"""Decrypted interaction exports compared with the UCS source, line by line: nothing missing,
nothing twice, nothing altered (``make demo``, ``make chaos``)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from cdds_shared.adapters.postgres_ucs import PostgresUcsSource
from cdds_shared.ucs.query import UcsQuery

__all__ = ["Comparison", "compare_interactions"]


@dataclass(frozen=True)
class Comparison:
    """One member kind (``records`` or ``attachments``) of a run against UCS."""

    kind: str
    exported: int
    expected: int
    duplicates: int
    missing: int
    extra: int
    changed: int

    @property
    def same(self) -> bool:
        return self.exported == self.expected and not (
            self.duplicates or self.missing or self.extra or self.changed
        )

    def __str__(self) -> str:
        if self.same:
            return f"{self.exported} {self.kind}"
        return (
            f"{self.kind}: {self.exported} exported, {self.expected} in UCS, "
            f"{self.duplicates} twice, {self.missing} missing, {self.extra} extra, "
            f"{self.changed} altered"
        )


def _compare(kind: str, exported: list[bytes], expected: list[bytes]) -> Comparison:
    def by_id(lines: list[bytes]) -> tuple[dict[str, bytes], int]:
        ids = [json.loads(line)["id"] for line in lines]
        twice = sum(n - 1 for n in Counter(ids).values())
        return dict(zip(ids, lines, strict=True)), twice

    got, twice = by_id(exported)
    want, _ = by_id(expected)
    return Comparison(
        kind=kind,
        exported=len(exported),
        expected=len(expected),
        duplicates=twice,
        missing=len(want.keys() - got.keys()),
        extra=len(got.keys() - want.keys()),
        changed=sum(1 for k in want.keys() & got.keys() if want[k] != got[k]),
    )


def _read_members(out: Path, members: dict[str, str]) -> dict[str, list[bytes]]:
    exported: dict[str, list[bytes]] = {kind: [] for kind in members}
    for kind, name in members.items():
        for member in sorted(out.glob(f"*/{name}")):
            exported[kind] += member.read_bytes().splitlines()
    return exported


async def compare_interactions(
    dsn: str, tenant_id: int, run_id: str, out: Path
) -> tuple[Comparison, Comparison]:
    """The members ``out/*/Interaction[-Attachment]-<run>.jsonl`` against every interaction
    (and attachment) of the UCS tenant."""
    members = {
        "records": f"Interaction-{run_id}.jsonl",
        "attachments": f"Interaction-Attachment-{run_id}.jsonl",
    }
    exported = await asyncio.to_thread(_read_members, out, members)
    source = PostgresUcsSource(dsn)
    query = UcsQuery(tenant_id, "interaction")
    try:
        records = [line async for line in source.stream(query)]
        attachments = [line async for line in source.stream_attachments(query)]
    finally:
        await source.close()
    return (
        _compare("records", exported["records"], records),
        _compare("attachments", exported["attachments"], attachments),
    )
