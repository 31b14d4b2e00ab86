"""What ``cdds`` prints for people: aligned columns, ``-`` for nothing, a header even when a
listing is empty."""

from __future__ import annotations

import pytest

from cdds_client.output import human_size, print_table

pytestmark = pytest.mark.unit


def test_tables_align_and_an_empty_one_has_its_header(capsys: pytest.CaptureFixture[str]) -> None:
    print_table(("ID", "TITLE"), [])
    print_table(("ID", "TITLE"), [("a1", None), ("b", "long title")])
    assert capsys.readouterr().out.splitlines() == [
        "ID  TITLE",
        "ID  TITLE",
        "a1  -",
        "b   long title",
    ]


def test_human_sizes() -> None:
    assert [human_size(n) for n in (0, 1023, 1024, 5 << 20, 3 << 30)] == [
        "0 B",
        "1023 B",
        "1.0 KiB",
        "5.0 MiB",
        "3.0 GiB",
    ]
