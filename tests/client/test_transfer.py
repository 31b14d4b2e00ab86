"""``cdds download``'s file transfer against an in-memory gateway (the gateway's own range
parser): resumed with ``Range`` from the ``.part``, verified before it gets its name, and a
damaged ``.part`` or download never ends under the final name. The real gateway runs the same
stories in tests/client/test_cli_stack.py."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import httpx
import pytest

from cdds_client.api import Api
from cdds_client.credentials import Credentials, credentials_path, load, resolve, save
from cdds_client.errors import Failure, NotSignedIn
from cdds_client.progress import bytes_progress
from cdds_client.transfer import Wanted, fetch
from cdds_gateway.usecases.ranges import Unsatisfiable, parse_range

pytestmark = pytest.mark.unit

DATA = os.urandom(300_000)
ID = "6650f1c2a9e4b1d2c3f4a5b6-000-000"
WANTED = Wanted(ID, "Interaction-x-000-000.zip.p7m", len(DATA), hashlib.sha256(DATA).hexdigest())


class Gateway:
    """Serves ``DATA`` (or ``served``) at the artifact's content URL, as the gateway does."""

    def __init__(self, served: bytes = DATA) -> None:
        self.served = served
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert request.url.path == f"/api/v1/artifacts/{ID}/content"
        assert request.headers["Authorization"] == "Bearer tok"
        etag = f'"{hashlib.sha256(self.served).hexdigest()}"'
        honour = request.headers.get("If-Range", etag) == etag
        try:
            wanted = parse_range(request.headers.get("Range"), len(self.served)) if honour else None
        except Unsatisfiable:
            return httpx.Response(416)
        if wanted is None:
            return httpx.Response(200, content=self.served, headers={"ETag": etag})
        body = self.served[wanted.start : wanted.end + 1]
        headers = {"ETag": etag, "Content-Range": wanted.content_range(len(self.served))}
        return httpx.Response(206, content=body, headers=headers)


def download(gateway: Gateway, out: Path) -> tuple[Path, bool]:
    with Api("http://gateway", "tok", transport=httpx.MockTransport(gateway)) as api:
        return fetch(api, WANTED, out, bytes_progress())


def test_a_fresh_download_is_verified_then_named(tmp_path: Path) -> None:
    gateway = Gateway()
    path, skipped = download(gateway, tmp_path)
    assert (path, skipped) == (tmp_path / WANTED.name, False)
    assert path.read_bytes() == DATA
    assert os.listdir(tmp_path) == [WANTED.name]
    assert "Range" not in gateway.requests[0].headers


def test_a_part_is_resumed_with_range(tmp_path: Path) -> None:
    (tmp_path / f"{WANTED.name}.part").write_bytes(DATA[:123_456])
    gateway = Gateway()
    path, _ = download(gateway, tmp_path)
    assert gateway.requests[0].headers["Range"] == "bytes=123456-"
    assert gateway.requests[0].headers["If-Range"] == f'"{WANTED.sha256}"'
    assert path.read_bytes() == DATA
    assert os.listdir(tmp_path) == [WANTED.name]


def test_a_verified_file_is_skipped_without_a_request(tmp_path: Path) -> None:
    (tmp_path / WANTED.name).write_bytes(DATA)
    gateway = Gateway()
    assert download(gateway, tmp_path) == (tmp_path / WANTED.name, True)
    assert gateway.requests == []


def test_a_complete_part_is_verified_without_a_request(tmp_path: Path) -> None:
    (tmp_path / f"{WANTED.name}.part").write_bytes(DATA)
    gateway = Gateway()
    assert download(gateway, tmp_path) == (tmp_path / WANTED.name, False)
    assert gateway.requests == []


@pytest.mark.parametrize(
    "part",
    [
        b"\0" * 1000 + DATA[1000:100_000],  # wrong bytes, resumed after them
        DATA[:-1] + b"\0",  # complete length, one wrong byte: nothing to ask for
        DATA + b"extra",  # longer than the file
    ],
    ids=["wrong-prefix", "wrong-last-byte", "too-long"],
)
def test_a_corrupt_part_fails_and_is_removed(tmp_path: Path, part: bytes) -> None:
    (tmp_path / f"{WANTED.name}.part").write_bytes(part)
    with pytest.raises(Failure, match=r"run the same command again"):
        download(Gateway(), tmp_path)
    assert os.listdir(tmp_path) == []  # no final file, and the next call starts over
    path, _ = download(Gateway(), tmp_path)
    assert path.read_bytes() == DATA


def test_a_tampered_download_fails_and_leaves_nothing(tmp_path: Path) -> None:
    tampered = bytearray(DATA)
    tampered[200_000] ^= 1
    with pytest.raises(Failure, match="SHA-256 differs from the run's manifest"):
        download(Gateway(bytes(tampered)), tmp_path)
    assert os.listdir(tmp_path) == []


def test_a_changed_file_is_sent_whole_and_the_part_restarted(tmp_path: Path) -> None:
    (tmp_path / f"{WANTED.name}.part").write_bytes(b"old bytes of another file")
    gateway = Gateway(b"new")  # its ETag differs: If-Range makes it send the whole file
    with pytest.raises(Failure, match="SHA-256 differs"):
        download(gateway, tmp_path)
    assert os.listdir(tmp_path) == []


def test_an_existing_different_file_is_never_replaced(tmp_path: Path) -> None:
    (tmp_path / WANTED.name).write_bytes(b"mine")
    with pytest.raises(Failure, match="exists and differs from the run's manifest"):
        download(Gateway(), tmp_path)
    assert (tmp_path / WANTED.name).read_bytes() == b"mine"


def test_credentials_are_private_and_options_win(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("CDDS_TOKEN", raising=False)
    monkeypatch.delenv("CDDS_URL", raising=False)
    with pytest.raises(NotSignedIn, match="not signed in: run cdds login URL"):
        resolve()
    path = save(Credentials("http://stored", "stored-token", "alice", "acme"))
    assert path == credentials_path() == tmp_path / "config" / "cdds" / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load() == Credentials("http://stored", "stored-token", "alice", "acme")
    assert resolve() == load()
    monkeypatch.setenv("CDDS_TOKEN", "env-token")
    assert resolve() == Credentials("http://stored", "env-token")
    assert resolve("option-token", "http://option") == Credentials("http://option", "option-token")
