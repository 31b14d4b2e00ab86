"""ZipPartWriter: valid ZIP64 for every reader, identical bytes for identical input, exact cuts."""

from __future__ import annotations

import functools
import io
import json
import random
import shutil
import struct
import subprocess
import tracemalloc
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

import pytest

from cdds_exporter.zipwriter import (
    DEFLATERS,
    ZLIB,
    ZLIB_NG,
    Deflate,
    MemberDeflater,
    UnknownDeflate,
    ZipPartWriter,
    deflate_bound,
    deflate_named,
)

MODIFIED = datetime(2024, 5, 6, 7, 8, 10)
LEVELS = (0, 1, 6, 9)
# Every library a plan may name: the exact cuts and the bounds must hold for each.
each_deflate = pytest.mark.parametrize("deflate", list(DEFLATERS.values()), ids=list(DEFLATERS))
MiB = 1 << 20


def build(
    members: Iterable[tuple[str, Iterable[bytes]]], *, level: int = 6, deflate: Deflate = ZLIB_NG
) -> bytes:
    """An archive written without a limit, one ``write`` per record."""
    writer = ZipPartWriter(limit=None, level=level, deflate=deflate, modified=MODIFIED)
    for name, records in members:
        writer.begin(name)
        for record in records:
            writer.write(record)
        writer.end()
    writer.close()
    return writer.drain()


def fill(
    records: Sequence[bytes],
    *,
    limit: int,
    level: int,
    reserve: int = 0,
    deflate: Deflate = ZLIB_NG,
) -> tuple[int, bytes]:
    """Write records with ``try_write`` until one is refused; (records taken, archive)."""
    writer = ZipPartWriter(limit=limit, level=level, deflate=deflate, modified=MODIFIED)
    writer.begin("records.jsonl")
    taken = 0
    for record in records:
        if not writer.try_write(record, reserve=reserve):
            break
        taken += 1
    writer.end()
    writer.close()
    return taken, writer.drain()


def json_records(count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    names = ["Zoë Ångström", "Łukasz", "山田 太郎", "Ana 👩‍💻", "O'Brien"]
    return [
        json.dumps(
            {
                "id": f"{rng.getrandbits(64):016x}",
                "agent": rng.choice(names),
                "queue": f"q-{rng.randrange(40)}",
                "started": f"2024-05-{rng.randrange(1, 29):02d}T{rng.randrange(24):02d}:00:00Z",
                "seconds": rng.randrange(3600),
                "note": "call back 📞 " * rng.randrange(4),
            },
            ensure_ascii=False,
        ).encode()
        + b"\n"
        for _ in range(count)
    ]


def random_records(count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.randbytes(rng.randrange(1, 600)) for _ in range(count)]


RECORDS = {"json": json_records(400, seed=1), "random": random_records(160, seed=2)}


@functools.cache
def prefix_sizes(kind: str, level: int, deflate: Deflate = ZLIB_NG) -> list[int]:
    """Size of the unlimited archive of the first k records, for every k."""
    records = RECORDS[kind]
    return [
        len(build([("records.jsonl", records[:k])], level=level, deflate=deflate))
        for k in range(len(records) + 1)
    ]


def test_round_trip_reads_back_with_zipfile_and_unzip(tmp_path: Path) -> None:
    members = {
        "calls.jsonl": json_records(50, seed=3),
        "empty.jsonl": [],
        "agents/Zoë 🎧.jsonl": ['{"name": "Zoë 🎧", "team": "Ωmega"}\n'.encode()] * 3,
    }
    data = build(members.items())

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        assert archive.namelist() == list(members)
        for info in archive.infolist():
            assert archive.read(info) == b"".join(members[info.filename])
            assert info.compress_type == zipfile.ZIP_DEFLATED
            assert info.flag_bits & 0x0808 == 0x0808
            assert info.date_time == (2024, 5, 6, 7, 8, 10)
            assert info.extra[:4] == struct.pack("<HH", 1, 24)  # ZIP64 extra field
    assert data[-98:-94] == struct.pack("<I", 0x06064B50)  # ZIP64 end of central directory

    path = tmp_path / "part.zip"
    path.write_bytes(data)
    unzip = shutil.which("unzip")
    assert unzip is not None, "Info-ZIP unzip is needed for this test"
    checked = subprocess.run([unzip, "-t", str(path)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_empty_archive_is_just_end_records() -> None:
    data = build([])
    assert len(data) == ZipPartWriter.empty_size()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist() == []


def test_same_input_gives_same_bytes() -> None:
    members = [("a.jsonl", RECORDS["json"]), ("b.bin", RECORDS["random"])]
    assert build(members) == build(members)
    later = ZipPartWriter(limit=None, modified=datetime(2024, 5, 6, 7, 8, 12))
    later.begin("a.jsonl")
    later.end()
    later.close()
    assert later.drain() != build([("a.jsonl", [])])


def test_zip64_structures_are_where_readers_look() -> None:
    record = b'{"id": 1}\n'
    data = build([("x.jsonl", [record])])

    (sig, needed, flags, method, _, _, crc, csize, usize, name_len, extra_len) = struct.unpack_from(
        "<IHHHHHIIIHH", data
    )
    assert (sig, needed, flags, method) == (0x04034B50, 45, 0x0808, 8)
    assert (crc, csize, usize) == (0, 0xFFFFFFFF, 0xFFFFFFFF)
    assert data[30 : 30 + name_len] == b"x.jsonl"
    assert struct.unpack_from("<HHQQ", data, 30 + name_len) == (1, 16, 0, 0)
    assert extra_len == 20

    start = 30 + name_len + extra_len
    compressed = zlib.compressobj(6, zlib.DEFLATED, -15)
    stream = compressed.compress(record) + compressed.flush()
    assert data[start : start + len(stream)] == stream
    descriptor = struct.unpack_from("<IIQQ", data, start + len(stream))
    assert descriptor == (0x08074B50, zlib.crc32(record), len(stream), len(record))

    central = start + len(stream) + 24
    fields = struct.unpack_from("<IHHHHHHIIIHHHHHII", data, central)
    assert fields[0] == 0x02014B50
    assert fields[8:10] == (0xFFFFFFFF, 0xFFFFFFFF)
    assert fields[16] == 0xFFFFFFFF  # local header offset, in the ZIP64 extra
    extra = struct.unpack_from("<HHQQQ", data, central + 46 + fields[10])
    assert extra == (1, 24, len(record), len(stream), 0)

    end64 = central + 46 + fields[10] + fields[11]
    assert len(data) == end64 + 56 + 20 + 22
    record64 = struct.unpack_from("<IQHHIIQQQQ", data, end64)
    assert record64 == (0x06064B50, 44, 0x032D, 45, 0, 0, 1, 1, end64 - central, central)
    assert struct.unpack_from("<IIQI", data, end64 + 56) == (0x07064B50, 0, end64, 1)
    end = struct.unpack_from("<IHHHHIIH", data, end64 + 76)
    assert end == (0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)


@pytest.mark.parametrize("kind", sorted(RECORDS))
@pytest.mark.parametrize("level", LEVELS)
@each_deflate
def test_try_write_cuts_exactly_where_the_next_record_does_not_fit(
    kind: str, level: int, deflate: Deflate
) -> None:
    records = RECORDS[kind]
    sizes = prefix_sizes(kind, level, deflate)
    total = sizes[-1]
    limits = {total, total - 1}
    for k in range(0, len(records), len(records) // 9):
        limits |= {sizes[k], sizes[k] - 1, (sizes[k] + sizes[k + 1]) // 2}

    for limit in sorted(limits - {sizes[0] - 1}):  # below that not even the empty member fits
        # Greedy: take records while the archive finished after the next one would still fit.
        expected = next((k for k in range(len(records)) if sizes[k + 1] > limit), len(records))
        taken, data = fill(records, limit=limit, level=level, deflate=deflate)
        assert taken == expected, f"limit {limit}"
        assert len(data) <= limit
        assert data == build([("records.jsonl", records[:taken])], level=level, deflate=deflate)
        if taken < len(records):
            assert (
                len(build([("records.jsonl", records[: taken + 1])], level=level, deflate=deflate))
                > limit
            )

    assert fill(records, limit=total, level=level, deflate=deflate)[0] == len(records)
    assert fill(records, limit=total - 1, level=level, deflate=deflate)[0] == len(records) - 1


@pytest.mark.parametrize("level", LEVELS)
@each_deflate
def test_reserve_is_kept_free_for_a_later_member(level: int, deflate: Deflate) -> None:
    records = RECORDS["json"]
    manifest = json.dumps({"records": 400, "note": "Σ ✓"}).encode()
    writer = ZipPartWriter(limit=None, level=level, deflate=deflate, modified=MODIFIED)
    reserve = writer.member_bound("manifest.json", len(manifest))
    limit = prefix_sizes("json", level, deflate)[200] + reserve

    writer = ZipPartWriter(limit=limit, level=level, deflate=deflate, modified=MODIFIED)
    writer.begin("records.jsonl")
    taken = 0
    while writer.try_write(records[taken], reserve=reserve):
        taken += 1
    writer.end()
    writer.begin("manifest.json")
    writer.write(manifest)
    writer.end()
    writer.close()

    sizes = prefix_sizes("json", level, deflate)
    assert taken == next(k for k in range(len(records)) if sizes[k + 1] > limit - reserve)
    assert writer.emitted <= limit
    assert (
        fill(records, limit=limit - reserve, level=level, deflate=deflate)[0] == taken
    )  # same as a lower limit


@pytest.mark.parametrize("size", [0, 1, 65535, 65536, MiB])
@pytest.mark.parametrize("level", LEVELS)
@each_deflate
def test_bounds_hold_for_incompressible_data(size: int, level: int, deflate: Deflate) -> None:
    data = random.Random(size).randbytes(size)
    z = deflate.module
    one_shot = z.compressobj(level, z.DEFLATED, -15)
    assert len(one_shot.compress(data) + one_shot.flush()) <= deflate_bound(size, level, deflate)

    name = "random.bin"
    for chunk in (max(size, 1), 4096):
        archive = build(
            [(name, [data[i : i + chunk] for i in range(0, size, chunk)])],
            level=level,
            deflate=deflate,
        )
        added = len(archive) - ZipPartWriter.empty_size()
        writer = ZipPartWriter(limit=None, level=level, deflate=deflate, modified=MODIFIED)
        assert added <= writer.member_bound(name, size)


@pytest.mark.parametrize(
    "records",
    [
        pytest.param(json_records(6000, seed=4), id="json"),
        pytest.param(random_records(1500, seed=5), id="random"),
        pytest.param([b"x" * 300_000, random.Random(6).randbytes(200_000)] * 3, id="large"),
    ],
)
@pytest.mark.parametrize("level", LEVELS)
@each_deflate
def test_quick_bound_never_undercuts_the_exact_size(
    records: list[bytes], level: int, deflate: Deflate
) -> None:
    deflater = MemberDeflater(level, deflate)
    for index, record in enumerate(records):
        if index % 7 == 0 or len(record) > 10_000:
            assert deflater.rest_bound(record) >= deflater.rest_exact(record)
        deflater.feed(record)
    assert deflater.rest_bound(b"") >= len(deflater.finish())


def test_fits_prices_the_finished_archive() -> None:
    records = RECORDS["json"][:50]
    size = len(build([("records.jsonl", records)]))
    writer = ZipPartWriter(limit=size, modified=MODIFIED)
    assert writer.fits(size - ZipPartWriter.empty_size())
    writer.begin("records.jsonl")
    for record in records:
        writer.write(record)
    assert writer.fits()
    assert not writer.fits(1)
    assert not writer.try_write(b"", reserve=1)


def test_misuse_is_refused() -> None:
    writer = ZipPartWriter(limit=None, modified=MODIFIED)
    with pytest.raises(RuntimeError):
        writer.try_write(b"x")
    writer.begin("a")
    with pytest.raises(RuntimeError):
        writer.begin("b")
    with pytest.raises(RuntimeError):
        writer.close()
    writer.end()
    with pytest.raises(ValueError, match="duplicate"):
        writer.begin("a")
    writer.close()
    with pytest.raises(RuntimeError):
        writer.begin("b")
    with pytest.raises(ValueError, match="empty archive"):
        ZipPartWriter(limit=10, modified=MODIFIED)
    with pytest.raises(ValueError, match="level"):
        ZipPartWriter(limit=None, level=10, modified=MODIFIED)
    with pytest.raises(ValueError, match="1980-2107"):
        ZipPartWriter(limit=None, modified=datetime(1979, 12, 31))


@pytest.mark.slow
def test_streaming_200_mib_keeps_memory_flat() -> None:
    lines = json_records(20_000, seed=7)
    pool = [b"".join(lines[i : i + 10]) for i in range(0, len(lines), 10)]  # ~1.5 KB records
    pool_size = sum(map(len, pool))
    target = 200 * MiB
    writer = ZipPartWriter(limit=1 << 40, modified=MODIFIED)
    drained = written = 0
    tracemalloc.start()
    try:
        writer.begin("records.jsonl")
        while written < target:
            for record in pool:
                assert writer.try_write(record)
                drained += len(writer.drain())
            written += pool_size
        writer.end()
        writer.close()
        drained += len(writer.drain())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert writer.members == {"records.jsonl": written}
    assert drained == writer.emitted
    assert peak < 4 * MiB, f"peak {peak} bytes"


def test_a_plan_names_the_deflate_library_its_parts_are_cut_with() -> None:
    assert deflate_named(ZLIB_NG.label) is ZLIB_NG
    assert deflate_named(ZLIB.label) is ZLIB
    assert deflate_named("zlib") is ZLIB  # plans made before the library was recorded
    with pytest.raises(UnknownDeflate, match=r"planned with deflate 'zlib-ng 0\.0\.1'.*zlib-ng"):
        deflate_named("zlib-ng 0.0.1")
    with pytest.raises(UnknownDeflate, match=r"'libdeflate 1\.19'"):
        deflate_named("libdeflate 1.19")


@pytest.mark.parametrize("level", [1, 6, 9])
def test_zlib_ng_writes_what_zlib_reads_at_about_zlibs_ratio(level: int) -> None:
    """Any level reads back; at the default level the size is within 3 % of zlib's (zlib-ng's
    level 1 is its fast "quick" strategy, bigger by design)."""
    data = b"".join(json_records(3000, seed=8))
    ours = build([("records.jsonl", [data])], level=level, deflate=ZLIB_NG)
    theirs = build([("records.jsonl", [data])], level=level, deflate=ZLIB)
    with zipfile.ZipFile(io.BytesIO(ours)) as archive:
        assert archive.read("records.jsonl") == data
    assert ours != theirs  # a different library: why a plan records which one cut its parts
    if level == 6:
        assert len(ours) <= len(theirs) * 1.03


@each_deflate
@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("kind", sorted(RECORDS))
def test_the_bytes_do_not_depend_on_how_the_input_was_cut(
    deflate: Deflate, level: int, kind: str
) -> None:
    """zlib-ng's output depends on how input is split into calls; the writer's does not, so a
    part is the same whether its records came in one batch, one by one, or in odd pieces."""
    records = RECORDS[kind] * 8  # several blocks
    whole = b"".join(records)
    one_by_one = build([("r", records)], level=level, deflate=deflate)
    rng = random.Random(level)
    cuts = sorted(rng.sample(range(1, len(whole)), 40))
    pieces = [whole[a:b] for a, b in zip([0, *cuts], [*cuts, len(whole)], strict=True)]
    assert build([("r", [whole])], level=level, deflate=deflate) == one_by_one
    assert build([("r", pieces)], level=level, deflate=deflate) == one_by_one
