"""``cdds decrypt``: verified output or nothing at all, one clear line on failure."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cdds_client.cli import main
from cdds_client.decrypt import output_name
from cdds_cms import SealMode, sealed_size
from tests.cms.test_cms import (
    OPENSSL_GCM,
    Identity,
    flip,
    make_identity,
    openssl_encrypt,
    seal,
)

MEMBERS = {"export/records-0001.jsonl": b'{"id": 1}\n' * 5000, "export/README.txt": b"hello\n"}


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def alice() -> Identity:
    return make_identity(2048, "alice")


@pytest.fixture
def key_file(alice: Identity, tmp_path: Path) -> Path:
    return alice.write(tmp_path / "keys")[0]


@pytest.fixture
def out(tmp_path: Path) -> Path:
    directory = tmp_path / "out"
    directory.mkdir()
    return directory


def sealed_file(alice: Identity, directory: Path, data: bytes, mode: SealMode = "gcm") -> Path:
    path = directory / "in" / "part-0001.zip.p7m"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(seal(alice.recipient, data, mode))
    return path


def decrypt(*args: str | Path) -> int:
    return main(["decrypt", *map(str, args)])


def one_error_line(capsys: pytest.CaptureFixture[str], subject: Path) -> str:
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"cdds decrypt: {subject}: ")
    return lines[0]


@pytest.mark.parametrize("mode", ["gcm", "legacy-cbc"])
def test_decrypts_to_the_zip(
    alice: Identity, key_file: Path, out: Path, tmp_path: Path, mode: SealMode
) -> None:
    archive = zip_bytes(MEMBERS)
    source = sealed_file(alice, tmp_path, archive, mode)

    assert decrypt(source, "--key", key_file, "--out", out) == 0

    assert sorted(os.listdir(out)) == ["part-0001.zip"]
    assert (out / "part-0001.zip").read_bytes() == archive
    assert stat.S_IMODE((out / "part-0001.zip").stat().st_mode) == 0o600


def test_unzip_extracts_the_members_and_keeps_the_zip(
    alice: Identity, key_file: Path, out: Path, tmp_path: Path
) -> None:
    source = sealed_file(alice, tmp_path, zip_bytes(MEMBERS))

    assert decrypt(source, "--key", key_file, "--out", out, "--unzip") == 0

    assert sorted(os.listdir(out)) == ["part-0001", "part-0001.zip"]
    for name, data in MEMBERS.items():
        assert (out / "part-0001" / name).read_bytes() == data


def test_unzip_replaces_a_directory_only_with_force(
    alice: Identity, key_file: Path, out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = sealed_file(alice, tmp_path, zip_bytes(MEMBERS))
    (out / "part-0001").mkdir()
    (out / "part-0001" / "stale.txt").write_text("stale")

    assert decrypt(source, "--key", key_file, "--out", out, "--unzip") == 1
    assert "part-0001 exists; use --force" in one_error_line(capsys, source)
    assert os.listdir(out) == ["part-0001"]  # refused before decrypting anything

    assert decrypt(source, "--key", key_file, "--out", out, "--unzip", "--force") == 0
    assert sorted(os.listdir(out)) == ["part-0001", "part-0001.zip"]
    assert not (out / "part-0001" / "stale.txt").exists()
    assert (out / "part-0001" / "export" / "README.txt").read_bytes() == b"hello\n"


@pytest.mark.parametrize("damage", ["ciphertext", "tag", "truncated"])
def test_a_damaged_file_leaves_nothing_behind(
    alice: Identity,
    key_file: Path,
    out: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    damage: str,
) -> None:
    archive = zip_bytes(MEMBERS)
    source = sealed_file(alice, tmp_path, archive)
    sealed = source.read_bytes()
    content_at = sealed_size(alice.recipient, len(archive)) - len(archive) - 18
    source.write_bytes(
        {
            "ciphertext": flip(sealed, content_at + len(archive) // 2),
            "tag": flip(sealed, len(sealed) - 1),
            "truncated": sealed[: len(sealed) // 2],
        }[damage]
    )

    assert decrypt(source, "--key", key_file, "--out", out, "--unzip") == 1

    assert os.listdir(out) == []
    reason = "file is truncated" if damage == "truncated" else "authentication tag does not match"
    assert reason in one_error_line(capsys, source)


def test_a_failed_run_never_replaces_an_existing_file(
    alice: Identity, key_file: Path, out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = zip_bytes(MEMBERS)
    source = sealed_file(alice, tmp_path, archive)
    good = source.read_bytes()
    (out / "part-0001.zip").write_bytes(b"old")

    assert decrypt(source, "--key", key_file, "--out", out) == 1  # exists, no --force
    assert "exists; use --force" in one_error_line(capsys, source)
    source.write_bytes(flip(good, len(good) - 3))
    assert decrypt(source, "--key", key_file, "--out", out, "--force") == 1  # tampered
    assert os.listdir(out) == ["part-0001.zip"]
    assert (out / "part-0001.zip").read_bytes() == b"old"

    source.write_bytes(good)
    assert decrypt(source, "--key", key_file, "--out", out, "--force") == 0
    assert (out / "part-0001.zip").read_bytes() == archive


def test_another_key_is_told_so(
    alice: Identity, out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = sealed_file(alice, tmp_path, zip_bytes(MEMBERS))
    other_key, _ = make_identity(2048, "mallory").write(tmp_path / "mallory")

    assert decrypt(source, "--key", other_key, "--out", out) == 1

    assert "not sealed for that key" in one_error_line(capsys, source)
    assert os.listdir(out) == []


def test_a_passphrase_comes_from_the_named_variable(
    alice: Identity,
    out: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = sealed_file(alice, tmp_path, zip_bytes(MEMBERS))
    key_file, _ = alice.write(tmp_path / "locked", passphrase=b"correct horse")

    # stdin is not a terminal under pytest: no prompt, a clear error instead
    assert decrypt(source, "--key", key_file, "--out", out) == 1
    assert "give --passphrase-env" in one_error_line(capsys, key_file)
    monkeypatch.setenv("CDDS_TEST_PASSPHRASE", "wrong")
    assert (
        decrypt(source, "--key", key_file, "--out", out, "--passphrase-env", "CDDS_TEST_PASSPHRASE")
        == 1
    )
    assert "wrong passphrase" in one_error_line(capsys, key_file)
    monkeypatch.setenv("CDDS_TEST_PASSPHRASE", "correct horse")
    assert (
        decrypt(source, "--key", key_file, "--out", out, "--passphrase-env", "CDDS_TEST_PASSPHRASE")
        == 0
    )
    assert os.listdir(out) == ["part-0001.zip"]


def test_missing_files_and_bad_keys_are_one_line_each(
    alice: Identity, key_file: Path, out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.p7m"
    assert decrypt(missing, "--key", key_file, "--out", out) == 1
    assert "No such file" in one_error_line(capsys, missing)

    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key\n")
    assert decrypt(missing, "--key", garbage, "--out", out) == 1
    assert "cannot read the private key" in one_error_line(capsys, garbage)

    absent_key = tmp_path / "absent.pem"
    assert decrypt(missing, "--key", absent_key, "--out", out) == 1
    assert "cannot read the key" in one_error_line(capsys, absent_key)
    assert os.listdir(out) == []


def test_one_bad_file_does_not_stop_the_others(
    alice: Identity, key_file: Path, out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = sealed_file(alice, tmp_path, zip_bytes(MEMBERS))
    bad = good.with_name("part-0002.zip.p7m")
    bad.write_bytes(good.read_bytes()[:-1])

    assert decrypt(bad, good, "--key", key_file, "--out", out) == 1

    assert "file is truncated" in one_error_line(capsys, bad)
    assert os.listdir(out) == ["part-0001.zip"]


@pytest.mark.parametrize("evil", ["../evil.txt", "/tmp/evil.txt", "a/../../evil.txt", "C:evil"])
def test_unzip_refuses_escaping_members(
    alice: Identity,
    key_file: Path,
    out: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    evil: str,
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("fine.txt", b"fine")
        archive.writestr(zipfile.ZipInfo(evil), b"evil")  # ZipInfo keeps the name verbatim
    source = sealed_file(alice, tmp_path, buffer.getvalue())

    assert decrypt(source, "--key", key_file, "--out", out, "--unzip") == 1

    assert "unsafe member name" in one_error_line(capsys, source)
    assert os.listdir(out) == ["part-0001.zip"]  # verified, kept; nothing extracted
    assert not (tmp_path / "evil.txt").exists()


def test_opens_openssl_streamed_output(
    alice: Identity, key_file: Path, out: Path, tmp_path: Path
) -> None:
    archive = zip_bytes(MEMBERS)
    (tmp_path / "plain.zip").write_bytes(archive)
    cert = alice.write(tmp_path / "alice")[1]
    source = tmp_path / "export.p7m"
    openssl_encrypt(tmp_path / "plain.zip", cert, source, *OPENSSL_GCM, "-stream")

    assert decrypt(source, "--key", key_file, "--out", out) == 0
    assert (out / "export.zip").read_bytes() == archive


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("part-1.zip.p7m", "part-1.zip"),
        ("part-1.p7m", "part-1.zip"),
        ("PART.ZIP.P7M", "PART.ZIP"),
        ("part-1.bin", "part-1.bin.zip"),
        (".p7m", "decrypted.zip"),
    ],
)
def test_output_names(name: str, expected: str) -> None:
    assert output_name(name) == expected


def test_the_cdds_command_is_installed() -> None:
    command = Path(sys.executable).parent / "cdds"
    done = subprocess.run([command, "decrypt", "--help"], capture_output=True, check=False)
    assert done.returncode == 0
    assert b"--passphrase-env" in done.stdout
